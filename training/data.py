"""A training run's data: the English training and dev rows, checked before any step, and the order in which the
training rows are read, a pure function of (seed, step), so that a resumed run neither repeats nor skips one."""
import random
from pathlib import Path

from fusion.errors import ConfigError, DataError
from tasks.data import balanced, load_train, read_jsonl, sentence_chunks

from .args import TrainArgs


def batch_indices(step: int, n: int, global_batch: int, seed: int) -> list[int]:
    """Indices of the global batch at `step`: epoch e is a fixed permutation seeded by (seed, e); no last partial batch."""
    per_epoch = n // global_batch
    epoch, j = divmod(step, per_epoch)
    order = list(range(n))
    random.Random(seed * 100_003 + epoch).shuffle(order)
    return order[j * global_batch:(j + 1) * global_batch]


def split_dev(rows: list[dict], fraction: float, seed: int):
    rng = random.Random(seed + 7)
    idx = list(range(len(rows)))
    rng.shuffle(idx)
    k = max(1, int(len(rows) * fraction))
    dev = set(idx[:k])
    return [r for i, r in enumerate(rows) if i not in dev], [rows[i] for i in sorted(dev)]


def prepare_data(args: TrainArgs, task):
    """Training and dev rows, checked before any training step (bad files stop here with a clear message)."""
    rows = load_train(task, train_file=args.train_file, data_dir=args.data_dir, hub_id=args.train_dataset)
    if args.dev_file:
        dev = read_jsonl(args.dev_file, task)
    elif args.data_dir and task.dev_local and not args.train_file:
        dev = read_jsonl(Path(args.data_dir) / task.dev_local, task, lang=task.english)
    else:
        rows, dev = split_dev(rows, args.dev_fraction, args.seed)
    if args.balance:
        train = balanced(rows, len(task.choices), args.max_train_examples, args.seed)
    else:
        train = rows[:args.max_train_examples]
        random.Random(args.seed).shuffle(train)
    if args.sentence_chunks > 0:  # after the split and balancing by text: no text is both trained on and dev
        if len(task.text_fields) != 1:
            raise ConfigError(f"--sentence-chunks needs a task with one text field; {task.name} has "
                              f"{', '.join(task.text_fields)}")
        field = task.text_fields[0]
        train = sentence_chunks(train, field, args.sentence_chunks)   # longer texts give more chunks: rebalance
        if args.balance:
            train = balanced(train, len(task.choices), args.max_train_examples, args.seed)
        else:
            random.Random(args.seed).shuffle(train)
        dev = sentence_chunks(dev, field, args.sentence_chunks)
        random.Random(args.seed + 1).shuffle(dev)   # the dev rows scored (the first eval_examples) span many texts
    if len(train) < args.batch_size:
        raise DataError(f"only {len(train)} class-balanced training examples; need at least one batch "
                        f"({args.batch_size}). Check that every label occurs in the training file.")
    return train, dev
