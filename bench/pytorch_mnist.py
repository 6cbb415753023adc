"""Training throughput of the Keras MNIST CNN in PyTorch on the CPU, for comparison with shardnet.

The model matches src/models/mnist-cnn.ts and bench/tfjs.bench.ts: Conv2D(32, 3x3, relu) ->
Conv2D(64, 3x3, relu) -> MaxPool(2) -> Flatten -> Dense(128, relu) -> Dense(10), trained with
Adam (lr 1e-3, betas (0.9, 0.999), eps 1e-7) on cross-entropy over batches of seeded synthetic
28x28 inputs. PyTorch wants channels first, so inputs are [N, 1, 28, 28].

Deviation: the last layer outputs logits and nn.CrossEntropyLoss applies log-softmax, which is
the same loss as Keras's softmax followed by sparse categorical cross-entropy. PyTorch's Adam
adds eps to the bias-corrected sqrt(v), while Keras adds it before bias correction, so the two
take slightly different steps at equal eps. Neither changes the work per step.

Usage: python3 bench/pytorch_mnist.py THREADS [--batches N] [--warmup N] [--batch-size N]
Prints one JSON line: {"threads": ..., "trainSamplesPerSecond": ..., "torch": "<version>", ...}.
"""

import argparse
import json
import time

import torch
from torch import nn


def mnist_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3),
        nn.ReLU(),
        nn.Conv2d(32, 64, kernel_size=3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 12 * 12, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("threads", type=positive_int, help="intra-op threads for torch.set_num_threads")
    parser.add_argument("--batches", type=positive_int, default=20, help="timed training steps (default 20)")
    parser.add_argument("--warmup", type=positive_int, default=2, help="untimed steps before timing (default 2)")
    parser.add_argument("--batch-size", type=positive_int, default=128, help="samples per step (default 128)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)

    generator = torch.Generator().manual_seed(7)
    x = torch.rand(args.batch_size, 1, 28, 28, generator=generator)
    y = torch.arange(args.batch_size) % 10

    model = mnist_cnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()

    def train_step() -> float:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(args.warmup):
        train_step()
    start = time.perf_counter()
    for _ in range(args.batches):
        loss = train_step()
    seconds = time.perf_counter() - start

    print(
        json.dumps(
            {
                "threads": torch.get_num_threads(),
                "trainSamplesPerSecond": args.batch_size * args.batches / seconds,
                "torch": torch.__version__,
                "batchSize": args.batch_size,
                "batches": args.batches,
                "finalLoss": loss,
            }
        )
    )


if __name__ == "__main__":
    main()
