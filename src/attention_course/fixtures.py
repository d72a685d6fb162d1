"""Small deterministic stand-ins for the two course data sets.

The fixtures have the same layout and file format as the real data, so the same loading
code reads both:

* ``make_imdb_fixture`` writes ``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt`` (like the
  Large Movie Review Dataset v1.0), optionally packed as ``aclImdb_v1.tar.gz``. The reviews are
  messy (HTML line breaks, odd spacing, mixed case, accents) but carry a learnable sentiment
  signal: cue words of the review's polarity, plus a little noise of the other polarity.
* ``make_eeg_fixture`` writes an ARFF file with the exact header of UCI's
  ``EEG Eye State.arff`` (14 channels + ``eyeDetection {0,1}``, CRLF line ends), values around
  4000-4600 with a few spikes, eye states in runs, and channel means that shift with eye state.

Everything is seeded from strings with :class:`random.Random`, so the same arguments give
byte-identical files on every platform and Python version. Only the standard library is used.
"""

from __future__ import annotations

import gzip
import io
import random
import tarfile
from pathlib import Path

#: Bump when the generated content changes, so cached fixtures are regenerated.
FIXTURE_VERSION = 1

#: The 14 EEG channel names, in the order of the real file's header.
EEG_CHANNELS: tuple[str, ...] = (
    "AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4",
)  # fmt: skip

#: Typical level of each channel (roughly the medians of the real recording).
_EEG_LEVELS = (4294, 4006, 4263, 4121, 4339, 4618, 4070, 4613, 4199, 4229, 4201, 4277, 4603, 4355)

_IMDB_SPLITS = ("train", "test")
_IMDB_LABELS = ("pos", "neg")
_ARCHIVE_MTIME = 1309996380  # 2011-07-07, like the members of the real archive

_POS_CUES = (
    "wonderful", "brilliant", "excellent", "superb", "beautiful", "moving", "charming",
    "delightful", "fantastic", "great", "gripping", "touching", "memorable", "stunning",
    "enjoyable", "perfect",
)  # fmt: skip
_NEG_CUES = (
    "awful", "terrible", "boring", "dull", "horrible", "pointless", "dreadful", "lame",
    "stupid", "disappointing", "tedious", "bad", "painful", "forgettable", "clumsy",
    "ridiculous",
)  # fmt: skip
_POS_LINES = (
    "I loved every minute of it",
    "Highly recommended",
    "A must-see, really",
    "I'd happily watch it again",
    "Easily one of the best films of the year",
)  # fmt: skip
_NEG_LINES = (
    "What a waste of time",
    "Avoid this one",
    "I want my two hours back",
    "Worst film I've seen in years",
    "I nearly walked out halfway through",
)  # fmt: skip
_CUE_TEMPLATES = (
    "The {noun} was {adv}{cue}",
    "What a {cue} {noun}",
    "I found the {noun} {cue}, to be honest",
    "{Cue}",
    "It's a {cue} film, and I don't say that lightly",
    "My {person} thought it was {cue} too",
    "Honestly? {Cue}. Just {cue}",
    "The {noun} is {cue}; the {noun2} is {adv}{cue2}",
    "{name} gives a {cue} performance",
)  # fmt: skip
_FILLERS = (
    "I saw this {when} with my {person}",
    "The {noun} reminded me of a film I saw in {place}",
    "It runs about {minutes} minutes",
    "{name} plays the lead, and {name2} shows up later on",
    "The story follows a {job} who moves to {place}",
    "There's a long scene in a café that goes on for a while",
    "I'm not sure what the director was going for with the {noun}",
    "It came out in {year}, if I remember correctly",
    "My {person} had already read the book",
    "The {noun} and the {noun2} are, well, there",
    "Some people at work kept talking about it",
    "The {noun} was shot in {place} (apparently)",
)  # fmt: skip
_NOUNS = (
    "plot", "acting", "script", "ending", "soundtrack", "cast", "camera work", "dialogue",
    "story", "music", "direction", "pacing", "lead actor", "villain", "score",
)  # fmt: skip
_ADVS = ("", "", "really ", "quite ", "very ", "just ", "absolutely ", "rather ")
_PERSONS = ("wife", "husband", "friend", "brother", "sister", "mum", "dad", "roommate")
_PLACES = ("Montréal", "Zürich", "São Paulo", "Paris", "Ohio", "the Côte d'Azur", "Kraków")
_NAMES = ("Zoë Adams", "José Ramos", "Renée Clark", "Björn Holm", "Mr. Smith", "Chloé Dubois")
_JOBS = ("teacher", "cop", "nurse", "retired boxer", "young lawyer", "musician")
_WHENS = ("last night", "on a rainy Sunday", "on TV", "at the cinema", "on a long flight")
_ENDINGS = (".", ".", ".", "!", "!!", "...", "!!!", "?!", " :)")
_SEPARATORS = (" ", " ", " ", " ", "  ", "<br /><br />", " <br /><br />")

_EEG_HEADER = (
    ["@RELATION EEG_DATA", ""]
    + [f"@ATTRIBUTE {name} NUMERIC" for name in EEG_CHANNELS]
    + ["@ATTRIBUTE eyeDetection {0,1}", "", "@DATA"]
)


def _cue_sentence(rng: random.Random, cues: tuple[str, ...], lines: tuple[str, ...]) -> str:
    """One sentence expressing the polarity of ``cues``."""
    if lines and rng.random() < 0.2:
        return rng.choice(lines)
    cue = rng.choice(cues)
    if rng.random() < 0.12:
        cue = cue.upper()
    return rng.choice(_CUE_TEMPLATES).format(
        cue=cue,
        Cue=cue[0].upper() + cue[1:],
        cue2=rng.choice(cues),
        noun=rng.choice(_NOUNS),
        noun2=rng.choice(_NOUNS),
        adv=rng.choice(_ADVS),
        person=rng.choice(_PERSONS),
        name=rng.choice(_NAMES),
    )


def _filler_sentence(rng: random.Random) -> str:
    """One neutral sentence (no sentiment cue)."""
    return rng.choice(_FILLERS).format(
        when=rng.choice(_WHENS),
        person=rng.choice(_PERSONS),
        noun=rng.choice(_NOUNS),
        noun2=rng.choice(_NOUNS),
        place=rng.choice(_PLACES),
        minutes=rng.randint(80, 160),
        name=rng.choice(_NAMES),
        name2=rng.choice(_NAMES),
        job=rng.choice(_JOBS),
        year=rng.randint(1950, 2010),
    )


def _review(seed: int, split: str, label: str, index: int) -> tuple[str, int]:
    """Text and rating (1-4 neg, 7-10 pos) of one synthetic review."""
    rng = random.Random(f"imdb-fixture-v{FIXTURE_VERSION}/{seed}/{split}/{label}/{index}")
    positive = label == "pos"
    own = (_POS_CUES, _POS_LINES) if positive else (_NEG_CUES, _NEG_LINES)
    other = (_NEG_CUES, _NEG_LINES) if positive else (_POS_CUES, _POS_LINES)
    n_sentences = rng.randint(4, 11)
    sentences = []
    for _ in range(n_sentences):
        draw = rng.random()
        if draw < 0.5:
            sentence = _cue_sentence(rng, *own)
        elif draw < 0.56:
            sentence = _cue_sentence(rng, *other)  # noise: a cue of the opposite polarity
        else:
            sentence = _filler_sentence(rng)
        if rng.random() < 0.08:
            sentence = sentence[0].lower() + sentence[1:]
        sentences.append(sentence + rng.choice(_ENDINGS))
    if not any(cue in s.lower() for s in sentences for cue in own[0]):
        sentences.insert(rng.randint(0, len(sentences)), _cue_sentence(rng, own[0], ()) + ".")
    text = sentences[0]
    for sentence in sentences[1:]:
        text += rng.choice(_SEPARATORS) + sentence
    rating = rng.randint(7, 10) if positive else rng.randint(1, 4)
    return text, rating


def _imdb_files(n_per_class: int, seed: int) -> list[tuple[str, bytes]]:
    """(relative path, content) of every fixture file, in a fixed order."""
    readme = (
        "Synthetic IMDB-style fixture (attention_course.fixtures, version "
        f"{FIXTURE_VERSION}, seed {seed}).\n\n"
        "Same layout as the Large Movie Review Dataset v1.0: [train/, test/] each hold\n"
        "[pos/, neg/] with files <id>_<rating>.txt; pos ratings are 7-10, neg 1-4.\n"
        f"{n_per_class} reviews per label and split. Not real data: for tests and fast runs.\n"
    )
    files = [("aclImdb/README", readme.encode("utf-8"))]
    for split in sorted(_IMDB_SPLITS):
        for label in sorted(_IMDB_LABELS):
            entries = []
            for index in range(n_per_class):
                text, rating = _review(seed, split, label, index)
                name = f"aclImdb/{split}/{label}/{index}_{rating}.txt"
                entries.append((name, text.encode("utf-8")))
            files.extend(sorted(entries))
    return files


def _tar_gz_bytes(files: list[tuple[str, bytes]]) -> bytes:
    """A reproducible ``.tar.gz`` (fixed mtimes, owners and gzip header) of ``files``."""
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, content in files:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = _ARCHIVE_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(content))
    gz_buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=gz_buffer, mtime=0) as gz:
        gz.write(tar_buffer.getvalue())
    return gz_buffer.getvalue()


def make_imdb_fixture(
    root: Path, n_per_class: int = 60, seed: int = 0, archive: bool = False
) -> Path:
    """Write a small IMDB-style data set under ``root``.

    Layout: ``root/aclImdb/README`` and ``root/aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt``
    with ``n_per_class`` reviews per split and label (ids ``0..n_per_class-1`` in every folder,
    like the real data), UTF-8, no trailing newline. With ``archive=True`` the same files are
    written *instead* as one reproducible archive ``root/aclImdb_v1.tar.gz`` (no folder).

    Returns the ``aclImdb`` folder, or the archive path when ``archive=True``.
    Same arguments give byte-identical files.
    """
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    files = _imdb_files(n_per_class, seed)
    if archive:
        path = root / "aclImdb_v1.tar.gz"
        path.write_bytes(_tar_gz_bytes(files))
        return path
    for name, content in files:
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return root / "aclImdb"


def _eeg_value(value: float) -> str:
    """Format like the real file: at most 2 decimals, no trailing zeros (``4635.9``, ``4000``)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _eye_states(rng: random.Random, n_steps: int) -> list[int]:
    """Labels in runs of varied length (0 = eyes open first, like the real recording)."""
    shortest = max(5, n_steps // 30)
    longest = max(shortest + 1, n_steps // 5)
    labels: list[int] = []
    state = 0
    while len(labels) < n_steps:
        labels.extend([state] * rng.randint(shortest, longest))
        state = 1 - state
    return labels[:n_steps]


def make_eeg_fixture(path: Path, n_steps: int = 600, seed: int = 0) -> Path:
    """Write a synthetic EEG Eye State recording to ``path`` (ARFF) and return ``path``.

    The header is the real file's header, line for line (``@RELATION EEG_DATA``, 14
    ``@ATTRIBUTE <channel> NUMERIC`` lines, ``@ATTRIBUTE eyeDetection {0,1}``, ``@DATA``,
    CRLF line ends, no newline after the last row). Data: ``n_steps`` rows in time order of
    14 channel values (about 4000-4600, slowly varying noise, a few outlier spikes) and the
    eye state (0/1) in runs of consecutive equal values. Each channel's mean shifts by a
    fixed amount (8-20) when the eyes are closed, so the state is learnable.
    """
    if n_steps < 2:
        raise ValueError(f"n_steps must be >= 2, got {n_steps}")
    rng = random.Random(f"eeg-fixture-v{FIXTURE_VERSION}/{seed}")
    n_channels = len(EEG_CHANNELS)
    shifts = [rng.choice((-1, 1)) * rng.uniform(8.0, 20.0) for _ in range(n_channels)]
    labels = _eye_states(rng, n_steps)
    spikes = {
        (rng.randrange(n_steps), rng.randrange(n_channels)) for _ in range(max(1, n_steps // 250))
    }
    drift = [rng.gauss(0.0, 4.0) for _ in range(n_channels)]
    rows = []
    for t, label in enumerate(labels):
        values = []
        for c in range(n_channels):
            drift[c] = 0.9 * drift[c] + rng.gauss(0.0, 2.0)
            value = _EEG_LEVELS[c] + shifts[c] * label + drift[c] + rng.gauss(0.0, 1.5)
            if (t, c) in spikes:
                value = rng.choice((rng.uniform(6000.0, 9000.0), rng.uniform(1000.0, 3000.0)))
            values.append(_eeg_value(value))
        rows.append(",".join([*values, str(label)]))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("\r\n".join(_EEG_HEADER + rows).encode("ascii"))
    return path
