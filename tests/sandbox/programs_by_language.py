"""Five stdin/stdout tasks, and in each language five right solutions and five certainly-wrong ones.

The wrong ones fail in the ways a sample fails: a wrong formula, a wrong edge case (the max of negative
numbers), output that ignores the task, a compile (or, interpreted, a syntax) error, and a loop that never ends.
"""

TASKS = {
    "sum": [("3 4\n", "7"), ("-10 25\n", "15"), ("1000000000000 1\n", "1000000000001")],
    "max": [("3\n1 5 2\n", "5"), ("4\n-7 -3 -9 -4\n", "-3"), ("1\n42\n", "42")],
    "reverse": [("hello\n", "olleh"), ("abc def\n", "fed cba"), ("x\n", "x")],
    "words": [("the quick brown fox\n", "4"), ("one\n", "1"), ("  spaced   out  words \n", "3")],
    "factorial": [("0\n", "1"), ("5\n", "120"), ("20\n", "2432902008176640000")],
}

RIGHT = {
    "cpp": {
        "sum": '#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a+b<<"\\n";}',
        "max": '#include <iostream>\n#include <climits>\nint main(){int n;std::cin>>n;long long m=LLONG_MIN,x;'
               'while(n--){std::cin>>x;if(x>m)m=x;}std::cout<<m<<"\\n";}',
        "reverse": '#include <iostream>\n#include <string>\n#include <algorithm>\nint main(){std::string s;'
                   'std::getline(std::cin,s);std::reverse(s.begin(),s.end());std::cout<<s<<"\\n";}',
        "words": '#include <iostream>\n#include <string>\nint main(){std::string w;int n=0;while(std::cin>>w)n++;'
                 'std::cout<<n<<"\\n";}',
        "factorial": '#include <iostream>\nint main(){int n;std::cin>>n;unsigned long long f=1;'
                     'for(int i=2;i<=n;i++)f*=i;std::cout<<f<<"\\n";}',
    },
    "c": {
        "sum": '#include <stdio.h>\nint main(void){long long a,b;scanf("%lld %lld",&a,&b);printf("%lld\\n",a+b);}',
        "max": '#include <stdio.h>\n#include <limits.h>\nint main(void){int n;long long m=LLONG_MIN,x;scanf("%d",&n);'
               'while(n--){scanf("%lld",&x);if(x>m)m=x;}printf("%lld\\n",m);}',
        "reverse": '#include <stdio.h>\n#include <string.h>\nint main(void){char s[1000];fgets(s,sizeof s,stdin);'
                   'int n=strcspn(s,"\\n");for(int i=n-1;i>=0;i--)putchar(s[i]);putchar(10);}',
        "words": '#include <stdio.h>\nint main(void){char w[1000];int n=0;while(scanf("%999s",w)==1)n++;'
                 'printf("%d\\n",n);}',
        "factorial": '#include <stdio.h>\nint main(void){int n;scanf("%d",&n);unsigned long long f=1;'
                     'for(int i=2;i<=n;i++)f*=i;printf("%llu\\n",f);}',
    },
    "java": {
        "sum": 'import java.util.*;\npublic class Main{public static void main(String[] a){Scanner s=new Scanner(System.in);'
               'System.out.println(s.nextLong()+s.nextLong());}}',
        "max": 'import java.util.*;\npublic class Main{public static void main(String[] a){Scanner s=new Scanner(System.in);'
               'int n=s.nextInt();long m=Long.MIN_VALUE;while(n-->0)m=Math.max(m,s.nextLong());System.out.println(m);}}',
        "reverse": 'import java.io.*;\npublic class Solution{public static void main(String[] a)throws IOException{'
                   'String l=new BufferedReader(new InputStreamReader(System.in)).readLine();'
                   'System.out.println(new StringBuilder(l).reverse());}}',
        "words": 'import java.util.*;\npublic class Main{public static void main(String[] a){Scanner s=new Scanner(System.in);'
                 'int n=0;while(s.hasNext()){s.next();n++;}System.out.println(n);}}',
        "factorial": 'import java.util.*;\nimport java.math.BigInteger;\npublic class Main{public static void main(String[] a)'
                     '{int n=new Scanner(System.in).nextInt();BigInteger f=BigInteger.ONE;for(int i=2;i<=n;i++)'
                     'f=f.multiply(BigInteger.valueOf(i));System.out.println(f);}}',
    },
    "javascript": {
        "sum": 'const [a,b]=require("fs").readFileSync(0,"utf8").trim().split(/\\s+/).map(BigInt);console.log(String(a+b));',
        "max": 'const v=require("fs").readFileSync(0,"utf8").trim().split(/\\s+/).map(Number);'
               'console.log(Math.max(...v.slice(1)));',
        "reverse": 'const l=require("fs").readFileSync(0,"utf8").split("\\n")[0];console.log([...l].reverse().join(""));',
        "words": 'const t=require("fs").readFileSync(0,"utf8").trim();console.log(t?t.split(/\\s+/).length:0);',
        "factorial": 'const n=Number(require("fs").readFileSync(0,"utf8"));let f=1n;for(let i=2n;i<=n;i++)f*=i;'
                     'console.log(f.toString());',
    },
    "typescript": {
        "sum": 'const [a, b]: bigint[] = require("fs").readFileSync(0, "utf8").trim().split(/\\s+/).map(BigInt);\n'
               'console.log(String(a + b));',
        "max": 'const v: number[] = require("fs").readFileSync(0, "utf8").trim().split(/\\s+/).map(Number);\n'
               'console.log(Math.max(...v.slice(1)));',
        "reverse": 'const line: string = require("fs").readFileSync(0, "utf8").split("\\n")[0];\n'
                   'console.log(line.split("").reverse().join(""));',
        "words": 'const text: string = require("fs").readFileSync(0, "utf8").trim();\n'
                 'console.log(text ? text.split(/\\s+/).length : 0);',
        "factorial": 'const n: number = Number(require("fs").readFileSync(0, "utf8"));\nlet f: bigint = 1n;\n'
                     'for (let i = 2; i <= n; i++) f *= BigInt(i);\nconsole.log(f.toString());',
    },
    "rust": {
        "sum": 'use std::io::Read;\nfn main(){let mut s=String::new();std::io::stdin().read_to_string(&mut s).unwrap();'
               'let v:Vec<i64>=s.split_whitespace().map(|x|x.parse().unwrap()).collect();println!("{}",v[0]+v[1]);}',
        "max": 'use std::io::Read;\nfn main(){let mut s=String::new();std::io::stdin().read_to_string(&mut s).unwrap();'
               'let v:Vec<i64>=s.split_whitespace().map(|x|x.parse().unwrap()).collect();'
               'println!("{}",v[1..].iter().max().unwrap());}',
        "reverse": 'fn main(){let mut l=String::new();std::io::stdin().read_line(&mut l).unwrap();'
                   'println!("{}",l.trim_end_matches(\'\\n\').chars().rev().collect::<String>());}',
        "words": 'use std::io::Read;\nfn main(){let mut s=String::new();std::io::stdin().read_to_string(&mut s).unwrap();'
                 'println!("{}",s.split_whitespace().count());}',
        "factorial": 'fn main(){let mut l=String::new();std::io::stdin().read_line(&mut l).unwrap();'
                     'let n:u64=l.trim().parse().unwrap();println!("{}",(1..=n).product::<u64>());}',
    },
    "go": {
        "sum": 'package main\nimport "fmt"\nfunc main(){var a,b int64;fmt.Scan(&a,&b);fmt.Println(a+b)}',
        "max": 'package main\nimport "fmt"\nfunc main(){var n int;fmt.Scan(&n);var m int64=-1<<63\n'
               'for i:=0;i<n;i++{var x int64;fmt.Scan(&x);if x>m{m=x}}\nfmt.Println(m)}',
        "reverse": 'package main\nimport ("bufio";"fmt";"os";"strings")\nfunc main(){l,_:=bufio.NewReader(os.Stdin).'
                   'ReadString(10);r:=[]rune(strings.TrimRight(l,"\\n"))\nfor i,j:=0,len(r)-1;i<j;i,j=i+1,j-1{'
                   'r[i],r[j]=r[j],r[i]}\nfmt.Println(string(r))}',
        "words": 'package main\nimport ("fmt";"io";"os";"strings")\nfunc main(){b,_:=io.ReadAll(os.Stdin);'
                 'fmt.Println(len(strings.Fields(string(b))))}',
        "factorial": 'package main\nimport "fmt"\nfunc main(){var n uint64;fmt.Scan(&n);f:=uint64(1)\n'
                     'for i:=uint64(2);i<=n;i++{f*=i}\nfmt.Println(f)}',
    },
    "bash": {
        "sum": 'read a b\necho $((a + b))',
        "max": 'read n\nread -a v\nm=${v[0]}\nfor x in "${v[@]}"; do (( x > m )) && m=$x; done\necho "$m"',
        "reverse": 'IFS= read -r l\nr=""\nfor ((i=${#l}-1; i>=0; i--)); do r+="${l:i:1}"; done\necho "$r"',
        "words": 'read -r -a w\necho ${#w[@]}',
        "factorial": 'read n\nf=1\nfor ((i=2; i<=n; i++)); do f=$((f * i)); done\necho "$f"',
    },
}

# One wrong answer per task, in the ways samples go wrong (see the module's text).
WRONG = {
    "cpp": {
        "sum": '#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a-b<<"\\n";}',
        "max": '#include <iostream>\nint main(){int n;std::cin>>n;long long m=0,x;while(n--){std::cin>>x;if(x>m)m=x;}'
               'std::cout<<m<<"\\n";}',
        "reverse": '#include <iostream>\n#include <string>\nint main(){std::string s;std::getline(std::cin,s);'
                   'std::cout<<s<<"\\n";}',
        "words": '#include <iostream>\nint main(){int n=0 std::cout<<n;}',
        "factorial": '#include <iostream>\nint main(){unsigned long long f=1;for(int i=1;;i++)f*=i;std::cout<<f;}',
    },
    "c": {
        "sum": '#include <stdio.h>\nint main(void){long long a,b;scanf("%lld %lld",&a,&b);printf("%lld\\n",a*b);}',
        "max": '#include <stdio.h>\nint main(void){int n;long long m=0,x;scanf("%d",&n);while(n--){scanf("%lld",&x);'
               'if(x>m)m=x;}printf("%lld\\n",m);}',
        "reverse": '#include <stdio.h>\nint main(void){char s[1000];fgets(s,sizeof s,stdin);fputs(s,stdout);}',
        "words": '#include <stdio.h>\nint main(void){printf("%d\\n",n);}',
        "factorial": 'int main(void){volatile unsigned long long f=1;for(;;)f++;}',
    },
    "java": {
        "sum": 'import java.util.*;\npublic class Main{public static void main(String[] a){Scanner s=new Scanner(System.in);'
               'System.out.println(s.nextInt()+s.nextInt());}}',
        "max": 'import java.util.*;\npublic class Main{public static void main(String[] a){Scanner s=new Scanner(System.in);'
               'int n=s.nextInt();long m=0;while(n-->0)m=Math.max(m,s.nextLong());System.out.println(m);}}',
        "reverse": 'import java.util.*;\npublic class Main{public static void main(String[] a){'
                   'System.out.println(new Scanner(System.in).nextLine());}}',
        "words": 'public class Main{public static void main(String[] a){System.out.println(count)}}',
        "factorial": 'public class Main{public static void main(String[] a){long f=1;while(true)f++;}}',
    },
    "javascript": {
        "sum": 'const [a,b]=require("fs").readFileSync(0,"utf8").trim().split(/\\s+/);console.log(a+b);',
        "max": 'const v=require("fs").readFileSync(0,"utf8").trim().split(/\\s+/).map(Number);let m=0;'
               'for(const x of v.slice(1))m=Math.max(m,x);console.log(m);',
        "reverse": 'console.log(require("fs").readFileSync(0,"utf8").split("\\n")[0]);',
        "words": 'const t = require("fs").readFileSync(0,"utf8"; console.log(t)',
        "factorial": 'let f=1;while(true){f++;}',
    },
    "typescript": {
        "sum": 'const [a, b]: string[] = require("fs").readFileSync(0, "utf8").trim().split(/\\s+/);\nconsole.log(a + b);',
        "max": 'const v: number[] = require("fs").readFileSync(0, "utf8").trim().split(/\\s+/).map(Number);\nlet m = 0;\n'
               'for (const x of v.slice(1)) m = Math.max(m, x);\nconsole.log(m);',
        "reverse": 'console.log(require("fs").readFileSync(0, "utf8").split("\\n")[0]);',
        "words": 'const n: number = "not a number";\nconsole.log(n);',
        "factorial": 'let f: number = 1;\nwhile (true) { f++; }',
    },
    "rust": {
        "sum": 'use std::io::Read;\nfn main(){let mut s=String::new();std::io::stdin().read_to_string(&mut s).unwrap();'
               'let v:Vec<i32>=s.split_whitespace().map(|x|x.parse().unwrap()).collect();println!("{}",v[0]+v[1]);}',
        "max": 'use std::io::Read;\nfn main(){let mut s=String::new();std::io::stdin().read_to_string(&mut s).unwrap();'
               'let v:Vec<i64>=s.split_whitespace().map(|x|x.parse().unwrap()).collect();'
               'println!("{}",v[1..].iter().fold(0,|m,&x|m.max(x)));}',
        "reverse": 'fn main(){let mut l=String::new();std::io::stdin().read_line(&mut l).unwrap();print!("{}",l);}',
        "words": 'fn main(){let n: u32 = "x"; println!("{}", n);}',
        "factorial": 'fn main(){let mut f:u64=1;loop{f=f.wrapping_add(1);if f==0{println!("{}",f);}}}',
    },
    "go": {
        "sum": 'package main\nimport "fmt"\nfunc main(){var a,b int64;fmt.Scan(&a,&b);fmt.Println(a-b)}',
        "max": 'package main\nimport "fmt"\nfunc main(){var n int;fmt.Scan(&n);var m int64\n'
               'for i:=0;i<n;i++{var x int64;fmt.Scan(&x);if x>m{m=x}}\nfmt.Println(m)}',
        "reverse": 'package main\nimport ("bufio";"fmt";"os")\nfunc main(){l,_:=bufio.NewReader(os.Stdin).ReadString(10);'
                   'fmt.Print(l)}',
        "words": 'package main\nimport "fmt"\nfunc main(){fmt.Println(count)}',
        "factorial": 'package main\nfunc main(){f:=1\nfor {f++}\n}',
    },
    "bash": {
        "sum": 'read a b\necho "$a$b"',
        "max": 'read n\nread -a v\nm=0\nfor x in "${v[@]}"; do (( x > m )) && m=$x; done\necho "$m"',
        "reverse": 'IFS= read -r l\necho "$l"',
        "words": 'read -r -a w\necho ${#w[@]',
        "factorial": 'while true; do :; done',
    },
}
