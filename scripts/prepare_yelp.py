"""Writes the Yelp sentence splits the benchmarks use, under runs/data/yelp (never committed).

  python scripts/prepare_yelp.py [--data ../shared/data/yelp_sentences]

The Yelp sentiment corpus of Shen et al. 2017 is available here without its
train files, so, as the data README prescribes, `sentiment.test.*` is the pool
(126,670 sentences) and `sentiment.dev.*` the evaluation set. Written:
  pool.txt / pool.tsv    the pool, shuffled with seed 0 (tsv: label<TAB>text)
  valid.txt / valid.tsv  2,000 dev sentences (seeded), for model selection
  test.txt  / test.tsv   5,000 other dev sentences (seeded), for VAE scores
  dev.tsv                the whole dev set, for classification accuracy
"""

import argparse
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def read(folder: Path, split: str) -> list[tuple[str, str]]:
    rows = []
    for label in ("0", "1"):
        path = folder / f"sentiment.{split}.{label}"
        rows += [(label, line.strip()) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def write(path: Path, rows, labelled: bool) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        if labelled:
            f.write("label\ttext\n")
        for label, text in rows:
            f.write(f"{label}\t{text}\n" if labelled else f"{text}\n")
    tmp.replace(path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "yelp_sentences"))
    parser.add_argument("--out", default=str(ROOT / "runs" / "data" / "yelp"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pool, dev = read(Path(args.data), "test"), read(Path(args.data), "dev")
    random.Random(0).shuffle(pool)
    shuffled_dev = list(dev)
    random.Random(1).shuffle(shuffled_dev)
    splits = {"pool": pool, "valid": shuffled_dev[:2000], "test": shuffled_dev[2000:7000]}
    for name, rows in splits.items():
        write(out / f"{name}.txt", rows, labelled=False)
        write(out / f"{name}.tsv", rows, labelled=True)
    write(out / "dev.tsv", dev, labelled=True)
    print({name: len(rows) for name, rows in splits.items()} | {"dev": len(dev)})


if __name__ == "__main__":
    main()
