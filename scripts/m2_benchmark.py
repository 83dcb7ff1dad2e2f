"""Semi-supervised classification: M2 against supervised-only, M1 and TF-IDF + logistic regression.

  python scripts/prepare_yelp.py && python scripts/prepare_classification.py   # once
  python scripts/m2_benchmark.py [--datasets yelp] [--labels 100 50 500 1000] [--seeds 0 1 2]
                                 [--steps 1500] [--m1-steps 2000] [--m1-workdir W]

For each (dataset, labels per class n, seed), in the same harness and with the
same labelled examples (drawn per class from the pool with the seed):
  m2          configs/<dataset>_m2.yaml trained for --steps, final checkpoint;
  supervised  the same encoder and classifier (the M2 model's q(y|x)) trained on
              the labelled examples alone, same steps, batch and optimizer;
  m1          a VAE trained on all the dataset's text (pool and unlabelled file;
              the M2 config's encoder, decoder and remedies without y, --m1-steps,
              in runs/m1_<dataset>, trained once and shared by every n and seed;
              or --m1-workdir), then logistic regression on the posterior means
              of the labelled examples;
  tfidf       TF-IDF of word 1-2 grams + logistic regression (scikit-learn);
  finetuned   with --pretrain or --init-from: supervised-only starting from the
              pretrained VAE's encoder (what pretraining gives without the M2 objective).
With --init-from RUN the M2 and finetuned runs start from that VAE run (e.g. the best
Yelp VAE of scripts/quality_benchmark.py). With --pretrain STEPS a VAE is first trained on all the dataset's text (the M2
config's model, m2 off, --pretrain-set overrides, runs/<prefix>vae_<dataset>, once per
dataset), and the M2 runs start from it (m2.init_from: Kingma et al.'s M1 -> M2 stacking).
Accuracy is on the dataset's test file (Yelp: all of sentiment.dev.*).
Results are merged into results/m2_benchmark.json after every run; finished
entries are skipped, so an interrupted run resumes where it stopped.
"""

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from textvae import load, load_config, train
from textvae.config import config_to_dict
from textvae.data import encode_corpus, index_batches, pad_batch, read_corpus
from textvae.rundir import RunDir
from textvae.semisupervised import draw_per_class, label_ids, resolve_classes
from textvae.building import build_model

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("tfidf", "m2", "supervised", "m1", "finetuned")


def labelled_draw(config, seed: int):
    """The (texts, label ids, classes) an M2 run with this seed trains on, and the test set."""
    pool = read_corpus(config.data.train, config.data)
    classes = resolve_classes(config.data.classes, pool.labels, config.data.train)
    ids = label_ids(pool.labels, classes, config.data.train)
    chosen = draw_per_class(ids, len(classes), config.data.labels_per_class, seed,
                            source=config.data.train, classes=classes)
    test = read_corpus(config.data.test, config.data)
    return ([pool.texts[i] for i in chosen], ids[chosen], classes,
            test.texts, label_ids(test.labels, classes, config.data.test))


def predict(model, texts, batch_size: int = 512) -> np.ndarray:
    """Argmax of q(y|x) for every text, in length-sorted batches."""
    encoded = encode_corpus(texts, model.tokenizer, model.max_positions - 2)
    order = np.argsort([len(s) for s in encoded.sequences], kind="stable")
    logits = tf.function(lambda b: model.class_logits(b), reduce_retracing=True)
    predicted = np.empty(len(texts), np.int64)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        out = logits(pad_batch([encoded.sequences[i] for i in rows]))
        predicted[rows] = np.argmax(out.numpy(), axis=1)
    return predicted


def posterior_means(model, texts, batch_size: int = 512) -> np.ndarray:
    means = [model.encode(texts[i:i + batch_size]).mean().numpy() for i in range(0, len(texts), batch_size)]
    return np.concatenate(means)


def run_m2(config, workdir: Path, test_texts, test_ids) -> float:
    train(config, workdir)
    model = load(workdir, checkpoint="latest")
    return float(np.mean(predict(model, test_texts) == test_ids))


def run_supervised(config, workdir: Path, texts, ids, test_texts, test_ids, seed: int,
                   init_from: str = "") -> float:
    """q(y|x) of the M2 architecture trained with cross-entropy on the labelled examples only
    (from the VAE run `init_from` when given, else from scratch).

    Shares the M2 run's tokenizer and labels.json in `workdir`; when the M2 run has
    not started yet, writes them there exactly as it would (the M2 run then reuses them).
    """
    from textvae.semisupervised import prepare_semi_supervised_data
    from textvae.tokenizer import load_tokenizer

    run = RunDir(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if run.read_labels() is None:
        prepare_semi_supervised_data(config, run, log=lambda message: print(message, file=sys.stderr))
    keras.utils.set_random_seed(seed)
    tokenizer = load_tokenizer(workdir)
    model = build_model(config, tokenizer, run.require_labels())
    if init_from:
        from textvae.training import initialise_m2

        initialise_m2(model, init_from)
    encoded = encode_corpus(texts, tokenizer, config.data.max_length)
    variables = model.encoder.trainable_variables + [
        v for layer in (model.classifier_hidden, model.classifier_logits) for v in layer.trainable_variables]
    optimizer = keras.optimizers.Adam(config.train.learning_rate, global_clipnorm=config.train.clip_norm or None)

    @tf.function(reduce_retracing=True)
    def step(batch, labels):
        with tf.GradientTape() as tape:
            logits = model.class_logits(batch, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    lengths = np.asarray([len(s) for s in encoded.sequences])
    stream = index_batches(lengths, config.train.batch_size, seed)
    for _ in range(config.train.max_steps):
        rows = next(stream)
        step(pad_batch([encoded.sequences[i] for i in rows]), tf.constant(ids[rows], tf.int32))
    return float(np.mean(predict(model, test_texts) == test_ids))


def train_m1_vae(dataset: str, steps: int, extra=(), workdir: Path | None = None) -> Path:
    """The M1 VAE of `dataset`: configs/<dataset>_m2.yaml with m2 off, on all its text
    (and the `extra` overrides), in `workdir` (default runs/m1_<dataset>)."""
    config_path = ROOT / "configs" / f"{dataset}_m2.yaml"
    data = load_config(config_path).data
    text_file = Path(data.train).with_name("m1_text.txt")
    if not text_file.is_file():
        texts = read_corpus(data.train, data).texts
        if data.unlabelled:
            texts += read_corpus(data.unlabelled, dataclasses.replace(data, label_field="")).texts
        tmp = text_file.with_name(text_file.name + ".tmp")
        tmp.write_text("\n".join(texts) + "\n", encoding="utf-8")
        tmp.replace(text_file)
    workdir = workdir or ROOT / "runs" / f"m1_{dataset}"
    overrides = ["m2.enabled=false", f"data.train={text_file}", "data.label_field=", "data.unlabelled=",
                 "data.labels_per_class=0", f"train.max_steps={steps}", f"kl.warmup_steps={steps // 4}",
                 f"train.eval_every={steps}", f"train.checkpoint_every={steps}", "train.progress_bar=false", *extra]
    train(load_config(config_path, overrides), workdir)
    return workdir


def run_m1(m1_workdir: Path, texts, ids, test_texts, test_ids) -> float:
    from sklearn.linear_model import LogisticRegression

    vae = load(m1_workdir)
    classifier = LogisticRegression(max_iter=5000).fit(posterior_means(vae, texts), ids)
    return float(np.mean(classifier.predict(posterior_means(vae, test_texts)) == test_ids))


def tfidf_classifier(texts, labels):
    """TF-IDF of word 1-2 grams + logistic regression, fitted; `.predict(texts)` gives labels."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression(max_iter=5000)).fit(texts, labels)


def run_tfidf(texts, ids, test_texts, test_ids) -> float:
    return float(np.mean(tfidf_classifier(texts, ids).predict(test_texts) == test_ids))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", nargs="+", default=["yelp"])
    parser.add_argument("--labels", nargs="+", type=int, default=[100, 50, 500, 1000])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--m1-steps", type=int, default=2000, help="training steps of the M1 VAE")
    parser.add_argument("--m1-workdir", help="an existing VAE run for M1 (default: train runs/m1_<dataset>)")
    parser.add_argument("--out", default=str(ROOT / "results" / "m2_benchmark.json"))
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides for the M2 and supervised runs (e.g. kl.free_bits=0)")
    parser.add_argument("--pretrain", type=int, default=0, metavar="STEPS",
                        help="first train a VAE on all the text for STEPS steps; M2 starts from it")
    parser.add_argument("--pretrain-set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="overrides for the pretrained VAE only (the model.* of --set apply to it too)")
    parser.add_argument("--init-from", metavar="RUN",
                        help="an existing VAE run to start from instead of --pretrain (its model settings "
                             "must match the M2 config's with the --set overrides)")
    parser.add_argument("--run-prefix", default="m2_",
                        help="run directories are runs/<prefix><dataset>_n<n>_s<seed>")
    args = parser.parse_args()
    out = Path(args.out)
    m1_workdirs = {}  # dataset -> its M1 VAE run, trained (or resumed) once per invocation
    for dataset in args.datasets:
        pretrained = args.init_from or ""
        if args.pretrain and args.init_from:
            raise SystemExit("--pretrain and --init-from are exclusive")
        if args.pretrain:
            model_keys = [o for o in args.set if o.startswith(("model.", "tokenizer."))]
            pretrained = str(train_m1_vae(dataset, args.pretrain, [*model_keys, *args.pretrain_set],
                                          ROOT / "runs" / f"{args.run_prefix}vae_{dataset}"))
        elif "finetuned" in args.methods and not pretrained:
            raise SystemExit("--methods finetuned needs --pretrain STEPS or --init-from RUN")
        for n in args.labels:
            for seed in args.seeds:
                overrides = [f"data.labels_per_class={n}", f"train.seed={seed}", f"train.max_steps={args.steps}",
                             "train.progress_bar=false", f"train.checkpoint_every={args.steps}",
                             f"train.eval_every={args.steps}", *args.set,
                             *([f"m2.init_from={pretrained}"] if pretrained else [])]
                config = load_config(ROOT / "configs" / f"{dataset}_m2.yaml", overrides)
                texts, ids, classes, test_texts, test_ids = labelled_draw(config, seed)
                workdir = ROOT / "runs" / f"{args.run_prefix}{dataset}_n{n}_s{seed}"
                for method in args.methods:
                    results = json.loads(out.read_text()) if out.is_file() else {}
                    entry = results.setdefault(dataset, {}).setdefault(str(n), {}).setdefault(str(seed), {})
                    if method in entry:
                        continue
                    started = time.perf_counter()
                    if method == "tfidf":
                        accuracy = run_tfidf(texts, ids, test_texts, test_ids)
                    elif method == "m1":
                        if dataset not in m1_workdirs:
                            m1_workdirs[dataset] = (Path(args.m1_workdir) if args.m1_workdir
                                                    else train_m1_vae(dataset, args.m1_steps))
                        accuracy = run_m1(m1_workdirs[dataset], texts, ids, test_texts, test_ids)
                    elif method == "supervised":
                        accuracy = run_supervised(config, workdir, texts, ids, test_texts, test_ids, seed)
                    elif method == "finetuned":
                        accuracy = run_supervised(config, workdir, texts, ids, test_texts, test_ids, seed,
                                                  init_from=pretrained)
                    else:
                        accuracy = run_m2(config, workdir, test_texts, test_ids)
                    results = json.loads(out.read_text()) if out.is_file() else {}
                    entry = results.setdefault(dataset, {}).setdefault(str(n), {}).setdefault(str(seed), {})
                    entry[method] = {"accuracy": accuracy, "seconds": time.perf_counter() - started,
                                     "test_examples": len(test_ids), "classes": classes}
                    if method == "m2":
                        entry[method]["config"] = config_to_dict(config)
                    out.parent.mkdir(exist_ok=True)
                    out.write_text(json.dumps(results, indent=1))
                    print(json.dumps({"dataset": dataset, "n": n, "seed": seed, method: accuracy}), file=sys.stderr)
    summarise(out)


def summarise(out: Path) -> None:
    """Mean and standard deviation over seeds, per dataset, n and method."""
    results = json.loads(out.read_text())
    for dataset, by_n in results.items():
        for n, by_seed in sorted(by_n.items(), key=lambda kv: int(kv[0])):
            row = []
            for method in METHODS:
                accs = [s[method]["accuracy"] for s in by_seed.values() if method in s]
                if accs:
                    row.append(f"{method} {100 * np.mean(accs):.1f} +- {100 * np.std(accs):.1f} ({len(accs)})")
            print(f"{dataset} n={n}: " + "; ".join(row))


if __name__ == "__main__":
    main()
