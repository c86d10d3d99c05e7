"""Train the date model shipped with the course and save it (`make checkpoints`).

Uses only the course package (chapter 4.5's code): the same data, model and training loop as the
notebook, trained longer, on the CPU with one thread and fixed seeds, so that two runs write the
same weights. Writes attention_course/data/date_translator.pt (about 250 kB).

    python tools/make_checkpoints.py                # train (about 75 s on a 2-core CPU) and save
    python tools/make_checkpoints.py --out PATH     # save somewhere else
"""

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from attention_course import (  # noqa: E402
    DEFAULT_CHECKPOINT,
    CharVocab,
    DateSeq2Seq,
    Translator,
    date_loader,
    exact_match,
    exact_match_by_format,
    set_seed,
    split_dates,
    train_dates,
)

#: The split the checkpoint is trained on (chapter 4.5 uses the same one).
SPLIT = dict(n_train=20_000, n_val=500, n_test=1_000, seed=0)
STEPS = 2_000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(DEFAULT_CHECKPOINT), help="where to write the checkpoint")
    parser.add_argument("--steps", type=int, default=STEPS)
    args = parser.parse_args(argv)

    # determinism; one thread is also the faster setting for these small GRUs on a CPU
    # (bench/report.md, "Threads for small recurrent models")
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    train_pairs, val_pairs, test_pairs = split_dates(**SPLIT)
    source_vocab = CharVocab.from_texts(s for s, _ in train_pairs)
    target_vocab = CharVocab.from_texts(t for _, t in train_pairs)
    set_seed(0)
    model = DateSeq2Seq(len(source_vocab), len(target_vocab), embed_size=32, hidden_size=64,
                        attention="bahdanau")
    loader = date_loader(train_pairs, source_vocab, target_vocab, batch_size=64, seed=0)
    start = time.perf_counter()
    history = train_dates(model, loader, val_pairs, source_vocab, target_vocab, args.steps,
                          eval_every=100, progress=False)
    seconds = time.perf_counter() - start
    test = exact_match(model, test_pairs, source_vocab, target_vocab)
    print(f"{args.steps} steps in {seconds:.0f} s: validation exact match {history['val_exact'][-1]:.4f}, "
          f"test exact match {test:.4f}")
    by_format = exact_match_by_format(model, source_vocab, target_vocab, n=200,
                                      exclude={s for s, _ in train_pairs})
    for fmt, exact in by_format.items():
        print(f"  {fmt:<34} {exact:.3f}  (200 fresh dates, typed in every case and spacing)")
    if test < 0.99 or min(by_format.values()) < 0.99:
        print("the model did not reach 0.99 exact match on the test split and on every format: not saved")
        return 1
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    Translator(model, source_vocab, target_vocab).save(args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1024:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
