"""Writes the SST-2, TREC and AG News splits the M2 benchmark uses, under runs/data (never committed).

  python scripts/prepare_classification.py [--data ../shared/data]

Each folder gets pool.tsv (labelled examples are drawn from it; the rest is
unlabelled text), test.tsv (accuracy is reported on it) and valid.tsv (logged
during training only; the benchmark scores the final checkpoint), all
`label<TAB>text`, plus unlabelled.txt where the setting has extra unlabelled text.
  sst2:    pool = stsa.binary.train (6,920); unlabelled = the GLUE phrases (67,349)
           and the training sentences; valid = stsa.binary.dev; test = stsa.binary.test.
  trec:    pool = TREC.train.all (5,452; 6 classes); valid = 500 pool questions (seeded,
           also in the pool); test = TREC.test.all.
  ag_news: only the 7,600-example test split is available here: a seeded 5,600 / 2,000
           split into pool and test (non-standard); the text is the title (a sentence);
           valid = 500 pool titles (seeded, also in the pool).
"""

import argparse
import csv
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def label_first(path: Path) -> list[tuple[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        label, _, text = line.strip().partition(" ")
        if text.strip():
            rows.append((label, " ".join(text.split())))
    return rows


def write(path: Path, rows, labelled: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        if labelled:
            f.write("label\ttext\n")
        for row in rows:
            f.write(f"{row[0]}\t{row[1]}\n" if labelled else f"{row}\n")
    tmp.replace(path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(ROOT / "runs" / "data"))
    args = parser.parse_args()
    data, out = Path(args.data), Path(args.out)

    sst = data / "sst2"
    pool = label_first(sst / "stsa.binary.train")
    write(out / "sst2" / "pool.tsv", pool)
    write(out / "sst2" / "valid.tsv", label_first(sst / "stsa.binary.dev"))
    write(out / "sst2" / "test.tsv", label_first(sst / "stsa.binary.test"))
    with open(sst / "glue_phrases.train.tsv", encoding="utf-8", newline="") as f:
        phrases = [" ".join(row["sentence"].split()) for row in csv.DictReader(f, delimiter="\t")]
    write(out / "sst2" / "unlabelled.txt", [p for p in phrases if p] + [t for _, t in pool], labelled=False)

    trec = label_first(data / "trec" / "TREC.train.all")
    write(out / "trec" / "pool.tsv", trec)
    write(out / "trec" / "valid.tsv", random.Random(0).sample(trec, 500))
    write(out / "trec" / "test.tsv", label_first(data / "trec" / "TREC.test.all"))

    with open(data / "ag_news" / "test.csv", encoding="utf-8", newline="") as f:
        news = [(row[0], " ".join(row[1].split())) for row in csv.reader(f)]
    random.Random(0).shuffle(news)
    write(out / "ag_news" / "pool.tsv", news[:5600])
    write(out / "ag_news" / "test.tsv", news[5600:])
    write(out / "ag_news" / "valid.tsv", random.Random(1).sample(news[:5600], 500))
    print({"sst2_pool": len(pool), "sst2_unlabelled": len(phrases) + len(pool), "trec_pool": len(trec),
           "ag_news_pool": 5600})


if __name__ == "__main__":
    main()
