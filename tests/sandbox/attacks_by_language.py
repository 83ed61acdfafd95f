"""Hostile programs in each language, one per attack class. Each prints ESCAPED only if its attack worked.

stdin carries what an attack aims at: a host file to read (``read_host``), a host folder to write into
(``write_outside``), a port listening on the host (``network``). ``outlive`` leaves a ``sleep 987653``
behind, which the test looks for on the host after the job.
"""

SLEEPER = "987653"

ATTACKS = {
    "cpp": {
        "fork_bomb": '#include <unistd.h>\n#include <iostream>\nint main(){int n=0;for(int i=0;i<100000;i++)'
                     'if(fork()>=0)n++;if(n>=100000)std::cout<<"ESCAPED";for(;;);}',
        "memory": '#include <cstring>\n#include <cstdlib>\n#include <iostream>\nint main(){for(int i=0;i<4096;i++){'
                  'char*p=(char*)malloc(1<<20);if(!p)return 1;memset(p,1,1<<20);}std::cout<<"ESCAPED";}',
        "disk": '#include <fstream>\n#include <iostream>\n#include <string>\nint main(){std::ofstream f("/work/big");'
                'std::string b(1<<20,\'x\');for(int i=0;i<256;i++){f<<b;f.flush();if(!f)return 1;}std::cout<<"ESCAPED";}',
        "network": '#include <sys/socket.h>\n#include <netinet/in.h>\n#include <arpa/inet.h>\n#include <iostream>\n'
                   'int main(){int port;std::cin>>port;int s=socket(AF_INET,SOCK_STREAM,0);if(s<0)return 1;'
                   'sockaddr_in a{};a.sin_family=AF_INET;a.sin_port=htons(port);a.sin_addr.s_addr=inet_addr("127.0.0.1");'
                   'if(connect(s,(sockaddr*)&a,sizeof a)==0)std::cout<<"ESCAPED";}',
        "read_host": '#include <fstream>\n#include <iostream>\n#include <string>\nint main(){std::string p,l;'
                     'std::getline(std::cin,p);std::ifstream f(p);if(std::getline(f,l))std::cout<<l<<"ESCAPED";}',
        "write_outside": '#include <fstream>\n#include <iostream>\n#include <string>\nint main(){std::string p;'
                         'std::getline(std::cin,p);for(auto t:{p+"/x","/prog/x","/usr/x","/etc/x","/src/x"}){'
                         'std::ofstream f(t);if(f<<"x"&&f.flush())std::cout<<"ESCAPED "<<t;}}',
        "outlive": '#include <unistd.h>\n#include <iostream>\nint main(){if(fork()==0){setsid();if(fork()==0){'
                   'execl("/bin/sleep","sleep","987653",(char*)0);}_exit(0);}sleep(1);std::cout<<"7";}',
        "compiler_bomb": '#define A "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"\n' + "".join(
            f"#define {chr(66 + i)} {' '.join([chr(65 + i)] * 10)}\n" for i in range(9))
                         + 'const char* s[] = {J};\nint main(){}',
    },
    "c": {
        "fork_bomb": '#include <unistd.h>\n#include <stdio.h>\nint main(void){int n=0;for(int i=0;i<100000;i++)'
                     'if(fork()>=0)n++;if(n>=100000)puts("ESCAPED");for(;;);}',
        "memory": '#include <stdlib.h>\n#include <string.h>\n#include <stdio.h>\nint main(void){for(int i=0;i<4096;i++){'
                  'char*p=malloc(1<<20);if(!p)return 1;memset(p,1,1<<20);}puts("ESCAPED");}',
        "disk": '#include <stdio.h>\n#include <string.h>\nint main(void){FILE*f=fopen("/work/big","w");static char b[1<<20];'
                'memset(b,1,sizeof b);for(int i=0;i<256;i++)if(fwrite(b,1,sizeof b,f)!=sizeof b||fflush(f))return 1;'
                'puts("ESCAPED");}',
        "network": '#include <sys/socket.h>\n#include <netinet/in.h>\n#include <arpa/inet.h>\n#include <stdio.h>\n'
                   'int main(void){int port;scanf("%d",&port);int s=socket(AF_INET,SOCK_STREAM,0);if(s<0)return 1;'
                   'struct sockaddr_in a={0};a.sin_family=AF_INET;a.sin_port=htons(port);'
                   'a.sin_addr.s_addr=inet_addr("127.0.0.1");if(!connect(s,(struct sockaddr*)&a,sizeof a))puts("ESCAPED");}',
        "read_host": '#include <stdio.h>\n#include <string.h>\nint main(void){char p[4096],l[4096];fgets(p,sizeof p,stdin);'
                     'p[strcspn(p,"\\n")]=0;FILE*f=fopen(p,"r");if(f&&fgets(l,sizeof l,f))printf("%sESCAPED",l);}',
        "write_outside": '#include <stdio.h>\n#include <string.h>\nint main(void){char p[4096];fgets(p,sizeof p,stdin);'
                         'p[strcspn(p,"\\n")]=0;strcat(p,"/x");const char*t[]={p,"/prog/x","/usr/x","/etc/x","/src/x"};'
                         'for(int i=0;i<5;i++){FILE*f=fopen(t[i],"w");if(f&&fputs("x",f)>=0&&!fclose(f))'
                         'printf("ESCAPED %s",t[i]);}}',
        "outlive": '#include <unistd.h>\n#include <stdio.h>\nint main(void){if(fork()==0){setsid();if(fork()==0)'
                   'execl("/bin/sleep","sleep","987653",(char*)0);_exit(0);}sleep(1);puts("7");}',
        "compiler_bomb": 'int main[-1u]={1};',
    },
    "java": {
        "fork_bomb": 'public class Main{public static void main(String[] a)throws Exception{int n=0;'
                     'for(int i=0;i<100000;i++){try{new ProcessBuilder("java","-cp","/prog","Main").start();n++;}'
                     'catch(Exception e){}}if(n>=100000)System.out.println("ESCAPED");}}',
        "memory": 'import java.util.*;\npublic class Main{public static void main(String[] a){List<long[]> l=new ArrayList<>();'
                  'for(int i=0;i<4096;i++)l.add(new long[131072]);System.out.println("ESCAPED");}}',
        "disk": 'import java.io.*;\npublic class Main{public static void main(String[] a)throws Exception{'
                'try(FileOutputStream f=new FileOutputStream("/work/big")){byte[] b=new byte[1<<20];'
                'for(int i=0;i<256;i++)f.write(b);}System.out.println("ESCAPED");}}',
        "network": 'import java.net.*;\nimport java.util.*;\npublic class Main{public static void main(String[] a)throws Exception{'
                   'int port=new Scanner(System.in).nextInt();new Socket("127.0.0.1",port);System.out.println("ESCAPED");}}',
        "read_host": 'import java.nio.file.*;\nimport java.util.*;\npublic class Main{public static void main(String[] a)'
                     'throws Exception{String p=new Scanner(System.in).nextLine();'
                     'System.out.println(Files.readString(Path.of(p))+"ESCAPED");}}',
        "write_outside": 'import java.nio.file.*;\nimport java.util.*;\npublic class Main{public static void main(String[] a){'
                         'String p=new Scanner(System.in).nextLine();for(String t:new String[]{p+"/x","/prog/x","/usr/x",'
                         '"/etc/x","/src/x"}){try{Files.writeString(Path.of(t),"x");System.out.println("ESCAPED "+t);}'
                         'catch(Exception e){}}}}',
        "outlive": 'public class Main{public static void main(String[] a)throws Exception{'
                   'new ProcessBuilder("setsid","sleep","987653").start();Thread.sleep(1000);System.out.println("7");'
                   'System.exit(0);}}',
        "compiler_bomb": 'public class Main{static final String S="' + "x" * 70000
                         + '";public static void main(String[] a){System.out.println(S);}}',
    },
    "javascript": {
        "fork_bomb": 'const {spawn}=require("child_process");let n=0;for(let i=0;i<5000;i++){try{'
                     'if(spawn(process.execPath,[__filename]).pid)n++;}catch(e){}}if(n>=5000)console.log("ESCAPED");',
        "memory": 'const a=[];for(let i=0;i<4096;i++)a.push(Buffer.alloc(1<<20,1));console.log("ESCAPED");',
        "disk": 'const fs=require("fs");const b=Buffer.alloc(1<<20,1);const fd=fs.openSync("/work/big","w");'
                'for(let i=0;i<256;i++)fs.writeSync(fd,b);console.log("ESCAPED");',
        "network": 'const port=Number(require("fs").readFileSync(0,"utf8"));const s=require("net").connect(port,"127.0.0.1",'
                   '()=>{console.log("ESCAPED");s.destroy();});s.on("error",()=>process.exit(1));',
        "read_host": 'const fs=require("fs");const p=fs.readFileSync(0,"utf8").trim();'
                     'console.log(fs.readFileSync(p,"utf8")+"ESCAPED");',
        "write_outside": 'const fs=require("fs");const p=fs.readFileSync(0,"utf8").trim();'
                         'for(const t of [p+"/x","/prog/x","/usr/x","/etc/x","/src/x"]){try{fs.writeFileSync(t,"x");'
                         'console.log("ESCAPED "+t);}catch(e){}}',
        "outlive": 'const {spawn}=require("child_process");spawn("sleep",["987653"],{detached:true,stdio:"ignore"}).unref();'
                   'setTimeout(()=>console.log("7"),1000);',
    },
    "typescript": {
        "fork_bomb": 'const {spawn} = require("child_process");\nlet n: number = 0;\nfor (let i = 0; i < 5000; i++) {'
                     ' try { if (spawn(process.execPath, [__filename]).pid) n++; } catch (e) {} }\n'
                     'declare var __filename: string;\nif (n >= 5000) console.log("ESCAPED");',
        "memory": 'const a: any[] = [];\nfor (let i = 0; i < 4096; i++) a.push(new Uint8Array(1 << 20).fill(1));\n'
                  'console.log("ESCAPED");',
        "disk": 'const fs = require("fs");\nconst fd = fs.openSync("/work/big", "w");\nconst b = new Uint8Array(1 << 20);\n'
                'for (let i = 0; i < 256; i++) fs.writeSync(fd, b);\nconsole.log("ESCAPED");',
        "network": 'const port: number = Number(require("fs").readFileSync(0, "utf8"));\n'
                   'const s = require("net").connect(port, "127.0.0.1", () => { console.log("ESCAPED"); s.destroy(); });\n'
                   's.on("error", () => process.exit(1));',
        "read_host": 'const fs = require("fs");\nconst p: string = fs.readFileSync(0, "utf8").trim();\n'
                     'console.log(fs.readFileSync(p, "utf8") + "ESCAPED");',
        "write_outside": 'const fs = require("fs");\nconst p: string = fs.readFileSync(0, "utf8").trim();\n'
                         'for (const t of [p + "/x", "/prog/x", "/usr/x", "/etc/x", "/src/x"]) {'
                         ' try { fs.writeFileSync(t, "x"); console.log("ESCAPED " + t); } catch (e) {} }',
        "outlive": 'const {spawn} = require("child_process");\n'
                   'spawn("sleep", ["987653"], {detached: true, stdio: "ignore"}).unref();\n'
                   'setTimeout(() => console.log("7"), 1000);',
        "compiler_bomb": 'type T<N extends any[]> = N["length"] extends 5000 ? N : T<[...N, 1]>;\n'
                         'let x: T<[]> = null as any;\nconsole.log(7);',
    },
    "rust": {
        "fork_bomb": 'use std::process::Command;\nfn main(){let mut n=0;for _ in 0..100000{if Command::new("/prog/main")'
                     '.spawn().is_ok(){n+=1;}}if n>=100000{println!("ESCAPED");}}',
        "memory": 'fn main(){let mut v=Vec::new();for _ in 0..4096{v.push(vec![1u8;1<<20]);}println!("ESCAPED {}",v.len());}',
        "disk": 'use std::io::Write;\nfn main(){let mut f=std::fs::File::create("/work/big").unwrap();let b=vec![1u8;1<<20];'
                'for _ in 0..256{f.write_all(&b).unwrap();}f.flush().unwrap();println!("ESCAPED");}',
        "network": 'fn main(){let mut l=String::new();std::io::stdin().read_line(&mut l).unwrap();'
                   'if std::net::TcpStream::connect(format!("127.0.0.1:{}",l.trim())).is_ok(){println!("ESCAPED");}}',
        "read_host": 'fn main(){let mut l=String::new();std::io::stdin().read_line(&mut l).unwrap();'
                     'if let Ok(t)=std::fs::read_to_string(l.trim()){println!("{}ESCAPED",t);}}',
        "write_outside": 'fn main(){let mut l=String::new();std::io::stdin().read_line(&mut l).unwrap();'
                         'let p=format!("{}/x",l.trim());for t in [p.as_str(),"/prog/x","/usr/x","/etc/x","/src/x"]{'
                         'if std::fs::write(t,"x").is_ok(){println!("ESCAPED {}",t);}}}',
        "outlive": 'use std::process::Command;\nfn main(){Command::new("setsid").args(["sleep","987653"]).spawn().unwrap();'
                   'std::thread::sleep(std::time::Duration::from_secs(1));println!("7");}',
        "compiler_bomb": 'const X: [u64; 1<<30] = [7; 1<<30];\nfn main(){ println!("{}", X[12345]); }',
    },
    "go": {
        "fork_bomb": 'package main\nimport ("fmt";"os/exec")\nfunc main(){n:=0\nfor i:=0;i<100000;i++{'
                     'if exec.Command("/prog/main").Start()==nil{n++}}\nif n>=100000{fmt.Println("ESCAPED")}}',
        "memory": 'package main\nimport "fmt"\nfunc main(){var l [][]byte\nfor i:=0;i<4096;i++{b:=make([]byte,1<<20)\n'
                  'for j:=range b{b[j]=1}\nl=append(l,b)}\nfmt.Println("ESCAPED",len(l))}',
        "disk": 'package main\nimport ("fmt";"os")\nfunc main(){f,_:=os.Create("/work/big")\nb:=make([]byte,1<<20)\n'
                'for i:=0;i<256;i++{if _,e:=f.Write(b);e!=nil{os.Exit(1)}}\nfmt.Println("ESCAPED")}',
        "network": 'package main\nimport ("fmt";"net")\nfunc main(){var p int\nfmt.Scan(&p)\n'
                   'if _,e:=net.Dial("tcp",fmt.Sprintf("127.0.0.1:%d",p));e==nil{fmt.Println("ESCAPED")}}',
        "read_host": 'package main\nimport ("bufio";"fmt";"os";"strings")\nfunc main(){p,_:=bufio.NewReader(os.Stdin).'
                     'ReadString(10)\nif b,e:=os.ReadFile(strings.TrimSpace(p));e==nil{fmt.Println(string(b)+"ESCAPED")}}',
        "write_outside": 'package main\nimport ("bufio";"fmt";"os";"strings")\nfunc main(){p,_:=bufio.NewReader(os.Stdin).'
                         'ReadString(10)\nfor _,t:=range []string{strings.TrimSpace(p)+"/x","/prog/x","/usr/x","/etc/x",'
                         '"/src/x"}{if os.WriteFile(t,[]byte("x"),0644)==nil{fmt.Println("ESCAPED",t)}}}',
        "outlive": 'package main\nimport ("fmt";"os/exec";"time")\nfunc main(){exec.Command("setsid","sleep","987653").'
                   'Start()\ntime.Sleep(time.Second)\nfmt.Println("7")}',
        "compiler_bomb": 'package main\nimport "fmt"\nvar x = [1<<31]byte{1}\nfunc main(){ fmt.Println(x[0]) }',
    },
    "bash": {
        "fork_bomb": 'for i in $(seq 2000); do sleep 100 & done 2>/dev/null\n'
                     '[ "$(jobs -p | wc -l)" -ge 2000 ] && echo ESCAPED',
        "memory": 'x=$(head -c 2000000000 /dev/zero | tr "\\0" x)\necho ESCAPED ${#x}',
        "disk": 'head -c 268435456 /dev/zero > /work/big && echo ESCAPED',
        "network": 'read port\nexec 3<>/dev/tcp/127.0.0.1/$port && echo ESCAPED',
        "read_host": 'read p\ncat "$p" && echo ESCAPED',
        "write_outside": 'read p\nfor t in "$p/x" /prog/x /usr/x /etc/x /src/x; do echo x > "$t" 2>/dev/null && echo "ESCAPED $t"; done',
        "outlive": 'setsid sleep 987653 &\nsleep 1\necho 7',
    },
}
