"""Write a randomly initialised model of a real architecture, with its family's tokenizer ids and chat template.

    .venv/bin/python scripts/make_shaped_model.py --shape llama-3.2-1b --out models/llama-3.2-1b
    .venv/bin/python scripts/make_shaped_model.py --shape qwen2.5-0.5b --out /tmp/q --layers 2 --hidden 64  # CPU size

Nothing is downloaded: the config is the published one (flywheel/shapes.py), the weights are random
(throughput and memory do not depend on their values), and the tokenizer is built here with the
family's vocabulary size and special-token ids. ``--device cuda`` initialises on the GPU (an 8B model
takes minutes to initialise on a CPU and seconds on a GPU).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from flywheel.shapes import SHAPES, write_shaped_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--layers", type=int, default=None, help="fewer layers than the real model (CPU tests)")
    parser.add_argument("--hidden", type=int, default=None, help="a narrower model (CPU tests)")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    out = write_shaped_model(args.shape, args.out, layers=args.layers, hidden=args.hidden, dtype=args.dtype,
                             device=args.device)
    config = json.loads((out / "config.json").read_text())
    print(f"{args.shape}: {config['num_hidden_layers']} layers, hidden {config['hidden_size']}, vocab "
          f"{config['vocab_size']} -> {out}")


if __name__ == "__main__":
    main()
