"""DBN on MNIST: greedy RBM pretraining + supervised fine-tuning, test error next to Hinton et al. (2006)'s
1.25% and the same network trained from a random initialisation (no pretraining).

784-500-500-2000 (Hinton, Osindero & Teh 2006), each layer pretrained with CD-1 (momentum 0.5, weight decay
2e-4) on the 60k training images (grey levels as probabilities), then fine-tuned with a softmax layer as an
MLP classifier (Adam, cosine-decayed learning rate). Hinton 2006 fine-tuned with a generative up-down
algorithm for about a week of 2006 CPU time; here the budget is a few minutes per variant (printed).

    python benchmarks/dbn_mnist.py             # 5 pretraining epochs per layer, 20 fine-tuning epochs
    python benchmarks/dbn_mnist.py --quick     # 10k rows, 1 + 3 epochs, small layers
"""

from __future__ import annotations

import argparse
import time

import torch

from _common import print_table, write_result
from genmodels import DBN, load_dataset
from genmodels.data import data_root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pretrain-epochs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    spec = f"mnist:{data_root() / 'mnist'}"
    train, test = load_dataset(spec, "train"), load_dataset(spec, "test")
    X, y = train.X.reshape(len(train), -1), train.y
    if args.quick:
        X, y = X[:10_000], y[:10_000]
    layers = (200, 200, 500) if args.quick else (500, 500, 2000)
    pre_epochs, epochs = (1, 3) if args.quick else (args.pretrain_epochs, args.epochs)
    rows = []
    for pretrain in (True, False):
        model = DBN(layers=layers, pretrain=pretrain, pretrain_epochs=pre_epochs, pretrain_lr=0.1, cd_k=1,
                    momentum=0.5, weight_decay=2e-4, epochs=epochs, lr=args.lr, batch_size=100, seed=0,
                    device=args.device, verbose=1)
        started = time.perf_counter()
        model.fit(X, y)
        minutes = (time.perf_counter() - started) / 60
        error = 100 * (1 - model.score(test.X.reshape(len(test), -1), test.y))
        name = "genmodels DBN, pretrained" if pretrain else "same network, no pretraining"
        rows.append({"model": f"{name} ({'-'.join(map(str, layers))})", "test error %": round(error, 2),
                     "pretrain epochs/layer": pre_epochs if pretrain else 0, "fine-tune epochs": epochs,
                     "minutes": round(minutes, 1)})
        print(rows[-1], flush=True)
    rows.append({"model": "DBN 784-500-500-2000 (Hinton, Osindero & Teh 2006)", "test error %": 1.25})
    table = print_table(rows, f"DBN test error on MNIST ({len(X)} training rows, {torch.get_num_threads()} threads)")
    write_result("dbn_mnist" + ("_quick" if args.quick else ""), {"rows": rows, "target_error_pct": 1.5,
                                                                  "table": table})


if __name__ == "__main__":
    main()
