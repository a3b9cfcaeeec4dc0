"""OCR of one page image into words and 0-1000 boxes, with Tesseract behind two backends.

- ``tesserocr``: one ``PyTessBaseAPI`` kept loaded per thread (the API is not thread-safe, so
  every thread that calls :meth:`OcrEngine.recognize` gets its own; the model loads once).
- ``pytesseract``: ``image_to_data``, one ``tesseract`` process per page.

Both run with the same page segmentation mode, engine mode and resolution, and both results go
through the same TSV parser, so they return the same words on the same pages (up to differences
between the Tesseract builds: the tesserocr wheel bundles its own). ``backend="auto"`` picks
tesserocr when it imports and finds the language pack, else pytesseract.

``OcrConfig.timeout`` bounds the OCR of one page with Tesseract's own mechanisms, which really
stop the work: tesserocr's ``Recognize(timeout=ms)`` (Tesseract's cancel monitor, checked
between words: layout analysis before recognition is not interruptible) and pytesseract's
``timeout=`` (the ``tesseract`` process is killed). A page whose OCR took longer than the timeout
raises :class:`OcrTimeoutError` in every case, also when Tesseract could not be stopped in time
(a blank or huge page spends its time in layout analysis): the timeout bounds which pages get a
result; the wall time of one call is bounded only by ``--isolate-native-crashes`` (the child
process is killed at 2 x timeout + 10 s).
"""

from __future__ import annotations

import os

# Tesseract's OpenMP threads make it 2-3x slower on small machines: one thread per engine.
# Set before tesserocr (which loads libtesseract) is imported.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

import re
import resource
import shutil
import subprocess
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytesseract
from PIL import Image

from docexit.transforms.records import Box, OcrResult

try:  # optional at runtime: "auto" falls back to pytesseract
    import tesserocr
except (ImportError, OSError):  # pragma: no cover - depends on the environment
    tesserocr = None

BACKENDS = ("auto", "tesserocr", "pytesseract")
# Tesseract's own bounds on a credible source resolution (ccstruct/publictypes.h).
MIN_CREDIBLE_DPI = 70
MAX_CREDIBLE_DPI = 2400
# When a page carries no credible resolution, assume its long side is 11 inches (US Letter).
ASSUMED_LONG_SIDE_INCHES = 11.0
# Tesseract refuses images with a side longer than this ("Image too large").
TESSERACT_MAX_SIDE = 32767
MAX_UPSCALE = 4.0  # `min_dpi` enlarges a page at most this many times
_COMMON_TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/opt/homebrew/share/tessdata",
)


class OcrError(RuntimeError):
    """Tesseract failed on a page."""


class OcrUnavailableError(OcrError):
    """No OCR backend is usable with the requested configuration (engine or language missing)."""


class OcrTimeoutError(OcrError):
    """The OCR of one page took longer than ``OcrConfig.timeout``; Tesseract was stopped."""


@dataclass(frozen=True)
class OcrConfig:
    """How to OCR a page. Frozen and hashable: it keys the per-process engine cache."""

    lang: str = "eng"  # Tesseract language(s), e.g. "eng" or "eng+deu"
    psm: int = 3  # page segmentation mode (3 = fully automatic, no OSD)
    min_confidence: float = 0.0  # drop words whose Tesseract confidence (0-100) is lower
    max_side: int | None = None  # downscale pages whose longer side exceeds this; None = as is
    # upscale pages scanned below this resolution (at most MAX_UPSCALE x): Tesseract misreads
    # small print, and archive scans such as RVL-CDIP's are ~90 dpi; None = as is
    min_dpi: int | None = None
    backend: str = "auto"  # "auto" | "tesserocr" | "pytesseract"
    oem: int = 1  # OCR engine mode, same for both backends (1 = LSTM only)
    tessdata: str | None = None  # tessdata folder; None = found automatically
    timeout: float | None = None  # seconds for one page's OCR; None or 0 = no limit

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if not 0 <= self.psm <= 13:
            raise ValueError(f"psm must be within 0-13, got {self.psm}")
        if self.oem not in (0, 1, 2, 3):
            raise ValueError(f"oem must be 0, 1, 2 or 3, got {self.oem}")
        if not 0.0 <= self.min_confidence <= 100.0:
            raise ValueError(f"min_confidence must be within 0-100, got {self.min_confidence}")
        if self.max_side is not None and self.max_side < 32:
            raise ValueError(f"max_side must be None or >= 32, got {self.max_side}")
        if self.min_dpi is not None and not MIN_CREDIBLE_DPI <= self.min_dpi <= 600:
            raise ValueError(
                f"min_dpi must be None or within {MIN_CREDIBLE_DPI}-600, got {self.min_dpi}"
            )
        if self.timeout is not None and not self.timeout >= 0:
            raise ValueError(f"timeout must be None or >= 0 seconds, got {self.timeout}")
        if not re.fullmatch(r"[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*", self.lang):
            raise ValueError(f"lang must look like 'eng' or 'eng+deu', got {self.lang!r}")

    @property
    def languages(self) -> list[str]:
        """The individual language packs that ``lang`` needs."""
        return self.lang.split("+")

    @property
    def timeout_ms(self) -> int:
        """``timeout`` in whole milliseconds (at least 1); 0 = no limit."""
        return max(1, round(self.timeout * 1000)) if self.timeout else 0


# ----------------------------------------------------------------------------- boxes and words


def normalize_box(box: tuple[float, float, float, float], width: int, height: int) -> Box:
    """Pixel box (x0, y0, x1, y1) on a ``width`` x ``height`` page -> 0-1000 ints, ordered."""
    if width <= 0 or height <= 0:
        raise ValueError(f"page size must be positive, got {width}x{height}")
    x0, y0, x1, y1 = box
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))

    def scale(v: float, size: int) -> int:
        return min(1000, max(0, int(1000 * v / size)))

    return (scale(x0, width), scale(y0, height), scale(x1, width), scale(y1, height))


def parse_tsv(
    tsv: str, width: int, height: int, min_confidence: float = 0.0
) -> tuple[list[str], list[Box]]:
    """Words and 0-1000 boxes from Tesseract's TSV output (with or without the header row).

    Keeps word rows (level 5) whose text is not blank and whose confidence is
    >= ``min_confidence``; boxes are normalised by the OCR'd image's ``width`` x ``height``.
    """
    words: list[str] = []
    boxes: list[Box] = []
    for line in tsv.splitlines():
        fields = line.split("\t", 11)
        if len(fields) < 12 or fields[0] != "5":  # header, page/block/para/line rows
            continue
        text = fields[11].strip()
        conf = float(fields[10])
        if not text or conf < min_confidence:
            continue
        left, top, w, h = (int(v) for v in fields[6:10])
        words.append(text)
        boxes.append(normalize_box((left, top, left + w, top + h), width, height))
    return words, boxes


def _normalize_word(word: str) -> str:
    """Casefolded, with every Unicode punctuation character removed."""
    return "".join(c for c in word.casefold() if not unicodedata.category(c).startswith("P"))


def _word_counts(words: Iterable[str]) -> Counter[str]:
    return Counter(w for w in map(_normalize_word, words) if w)


def word_recall(predicted_words: Iterable[str], truth_words: Iterable[str]) -> float:
    """Share of the reference words found (multiset, case-insensitive, punctuation-stripped).

    1.0 when the reference has no words.
    """
    pred, truth = _word_counts(predicted_words), _word_counts(truth_words)
    total = sum(truth.values())
    return 1.0 if total == 0 else sum((pred & truth).values()) / total


def word_jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    """Multiset Jaccard similarity |a & b| / |a | b| of two word lists (normalised as above)."""
    ca, cb = _word_counts(a), _word_counts(b)
    union = sum((ca | cb).values())
    return 1.0 if union == 0 else sum((ca & cb).values()) / union


# ----------------------------------------------------------------------------- image preparation


def prepare_image(
    image: Image.Image, max_side: int | None = None, min_dpi: int | None = None
) -> tuple[Image.Image, int]:
    """The image Tesseract sees, and the resolution (dpi) it is told, identical for both backends.

    Modes other than "1", "L" and "RGB" are flattened (alpha onto white); pages whose longer
    side exceeds ``max_side`` are downscaled (LANCZOS). The dpi is the image's own when
    credible (70-2400, scaled with the resize), else estimated from an 11-inch long side.
    Pages below ``min_dpi`` are then upscaled (LANCZOS, at most ``MAX_UPSCALE`` times and never
    past ``max_side``) and told the new dpi. Boxes are normalised to the prepared image, so the
    0-1000 boxes do not depend on either resize.
    """
    dpi_info = image.info.get("dpi")
    if image.mode not in ("1", "L", "RGB"):
        if "A" in image.mode or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, rgba).convert("RGB")
        else:
            image = image.convert("RGB")
    scale = 1.0
    if max_side is not None and max(image.size) > max_side:
        scale = max_side / max(image.size)
        image = _resize(image, scale)
    dpi = 0.0
    if dpi_info:
        try:
            dpi = float(dpi_info[1] if isinstance(dpi_info, tuple) else dpi_info)
        except (TypeError, ValueError, IndexError):
            dpi = 0.0
    if MIN_CREDIBLE_DPI <= dpi <= MAX_CREDIBLE_DPI:
        dpi *= scale
    else:
        dpi = max(image.size) / ASSUMED_LONG_SIDE_INCHES
    if min_dpi is not None and dpi < min_dpi:
        upscale = min(min_dpi / dpi, MAX_UPSCALE)
        if max_side is not None:
            upscale = min(upscale, max_side / max(image.size))
        if upscale > 1.0:
            image = _resize(image, upscale)
            dpi *= upscale
    return image, int(min(MAX_CREDIBLE_DPI, max(MIN_CREDIBLE_DPI, round(dpi))))


def _resize(image: Image.Image, scale: float) -> Image.Image:
    """`image` scaled by `scale` (LANCZOS; bilevel pages become greyscale first)."""
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if image.mode == "1":
        image = image.convert("L")
    return image.resize(size, Image.Resampling.LANCZOS)


# ----------------------------------------------------------------------------- availability


def _tesseract_cli_tessdata() -> Path | None:
    """The tessdata folder the ``tesseract`` binary reports, if it is installed."""
    exe = shutil.which(pytesseract.pytesseract.tesseract_cmd)
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--list-langs"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'"([^"]+)"', out.stdout + out.stderr)
    return Path(match.group(1)) if match else None


def find_tessdata(config: OcrConfig) -> Path | None:
    """A tessdata folder holding every language pack ``config`` needs, or None.

    Looks at ``config.tessdata``, ``$TESSDATA_PREFIX`` (and its ``tessdata/``), the folder the
    ``tesseract`` binary reports, then the usual install locations.
    """
    candidates: list[Path] = []
    if config.tessdata:
        candidates.append(Path(config.tessdata))
    prefix = os.environ.get("TESSDATA_PREFIX")
    if prefix:
        candidates += [Path(prefix), Path(prefix) / "tessdata"]
    cli = _tesseract_cli_tessdata()
    if cli is not None:
        candidates.append(cli)
    candidates += [Path(p) for p in _COMMON_TESSDATA_DIRS]
    for folder in candidates:
        if all((folder / f"{lang}.traineddata").is_file() for lang in config.languages):
            return folder
    return None


def _missing_language_message(config: OcrConfig, where: str) -> str:
    packs = " ".join(f"tesseract-ocr-{lang}" for lang in config.languages)
    return (
        f"Tesseract language pack(s) {config.lang!r} not found ({where}); "
        f"install {packs} (e.g. `apt-get install {packs}`) or set OcrConfig.tessdata / "
        "TESSDATA_PREFIX to a folder holding the .traineddata files"
    )


def _check_pytesseract(config: OcrConfig, where: str = "tesseract --list-langs") -> None:
    try:
        langs = set(pytesseract.get_languages(config=_tessdata_arg(config)))
    except (pytesseract.TesseractNotFoundError, pytesseract.TesseractError, OSError) as e:
        raise OcrUnavailableError(
            "the tesseract binary is not usable (install tesseract-ocr, e.g. "
            f"`apt-get install tesseract-ocr`): {e}"
        ) from e
    if not set(config.languages) <= langs:
        raise OcrUnavailableError(_missing_language_message(config, where))


def _resolve(config: OcrConfig) -> tuple[str, Path | None]:
    """(backend, tessdata folder) for ``config``; raises OcrUnavailableError."""
    if config.backend in ("auto", "tesserocr"):
        tessdata = find_tessdata(config)
        if tesserocr is not None and tessdata is not None:
            return "tesserocr", tessdata
        if config.backend == "tesserocr":
            if tesserocr is None:
                raise OcrUnavailableError("tesserocr is not installed (pip install tesserocr)")
            raise OcrUnavailableError(_missing_language_message(config, "tesserocr"))
    where = "tesseract --list-langs"
    if config.backend == "auto":
        where = f"neither tesserocr's tessdata search nor {where} has it"
    _check_pytesseract(config, where)
    return "pytesseract", None


def check_ocr_available(config: OcrConfig = OcrConfig()) -> str:
    """Startup check: the backend that ``config`` resolves to; raises OcrUnavailableError."""
    return _resolve(config)[0]


def tesseract_version(backend: str) -> str | None:
    """The Tesseract build behind ``backend`` ("tesserocr" or "pytesseract"), e.g. "5.3.0".

    The tesserocr wheel bundles its own libtesseract, which may differ from the system
    ``tesseract`` binary that pytesseract runs; different builds read noisy scans differently.
    """
    try:
        if backend == "tesserocr":
            if tesserocr is None:
                return None
            match = re.search(r"tesseract\s+(\S+)", tesserocr.tesseract_version())
            return match.group(1) if match else None
        return str(pytesseract.get_tesseract_version())
    except (pytesseract.TesseractNotFoundError, OSError, RuntimeError):
        return None


def _tessdata_arg(config: OcrConfig) -> str:
    """``--tessdata-dir`` for the CLI when the user named a folder (else its built-in one)."""
    return f'--tessdata-dir "{config.tessdata}"' if config.tessdata else ""


# ----------------------------------------------------------------------------- engines


class OcrEngine:
    """Tesseract loaded once for one :class:`OcrConfig`; ``recognize`` is safe across threads."""

    def __init__(self, config: OcrConfig = OcrConfig()) -> None:
        self.config = config
        self.backend, self._tessdata = _resolve(config)
        self.version = tesseract_version(self.backend)  # Tesseract build, for provenance
        self._local = threading.local()  # tesserocr: one PyTessBaseAPI per thread
        self._init_lock = threading.Lock()

    def recognize(self, image: Image.Image) -> OcrResult:
        """Words and 0-1000 boxes of one page; ``seconds`` and ``cpu_seconds`` count the engine
        call only (wall clock and CPU time)."""
        prepared, dpi = prepare_image(image, self.config.max_side, self.config.min_dpi)
        if max(prepared.size) > TESSERACT_MAX_SIDE:
            raise OcrError(
                f"the page is {prepared.width}x{prepared.height} pixels; Tesseract reads at most "
                f"{TESSERACT_MAX_SIDE} pixels a side: downscale such pages with --ocr-max-side"
            )
        start, cpu_start = time.perf_counter(), _engine_cpu_seconds(self.backend)
        if self.backend == "tesserocr":
            tsv = self._tesserocr_tsv(prepared, dpi)
        else:
            tsv = self._pytesseract_tsv(prepared, dpi)
        seconds = time.perf_counter() - start
        cpu_seconds = _engine_cpu_seconds(self.backend) - cpu_start
        if self.config.timeout and seconds > self.config.timeout:
            raise self._timeout_error()  # finished, but late: Tesseract could not be stopped
        words, boxes = parse_tsv(tsv, prepared.width, prepared.height, self.config.min_confidence)
        return OcrResult(words=words, boxes=boxes, seconds=seconds, cpu_seconds=cpu_seconds)

    def close(self) -> None:
        """Free the calling thread's Tesseract instance (others are freed with their threads)."""
        api = getattr(self._local, "api", None)
        if api is not None:
            api.End()
            self._local.api = None

    def _api(self) -> Any:
        api = getattr(self._local, "api", None)
        if api is None:
            with self._init_lock:
                api = tesserocr.PyTessBaseAPI(
                    path=f"{self._tessdata}{os.sep}",
                    lang=self.config.lang,
                    oem=self.config.oem,
                    psm=self.config.psm,
                )
            self._local.api = api
        return api

    def _tesserocr_tsv(self, image: Image.Image, dpi: int) -> str:
        api = self._api()
        try:
            api.SetImage(image)
            api.SetSourceResolution(dpi)
            # Tesseract's monitor cancels recognition at the deadline: no result then.
            finished = not self.config.timeout_ms or api.Recognize(timeout=self.config.timeout_ms)
            tsv = api.GetTSVText(0) if finished else None
        except RuntimeError as e:
            raise OcrError(f"tesserocr failed: {e}") from e
        finally:
            api.Clear()
        if not finished:
            raise self._timeout_error()
        if tsv is None:
            raise OcrError("tesserocr returned no result for the page")
        return tsv

    def _pytesseract_tsv(self, image: Image.Image, dpi: int) -> str:
        cli = f"--psm {self.config.psm} --oem {self.config.oem} --dpi {dpi} "
        try:
            return pytesseract.image_to_data(
                image,
                lang=self.config.lang,
                config=cli + _tessdata_arg(self.config),
                timeout=self.config.timeout or 0,  # kills the tesseract process
            )
        except pytesseract.TesseractError as e:
            raise OcrError(f"tesseract failed: {e}") from e
        except RuntimeError as e:  # pytesseract's "Tesseract process timeout"
            if "timeout" not in str(e).lower():
                raise
            raise self._timeout_error() from e

    def _timeout_error(self) -> OcrTimeoutError:
        return OcrTimeoutError(
            f"OCR of the page took longer than {self.config.timeout:g} s and was stopped "
            "(--ocr-timeout); a very large or dense page? Raise --ocr-timeout, or shrink pages "
            "with --ocr-max-side"
        )


def _engine_cpu_seconds(backend: str) -> float:
    """CPU seconds so far of where ``backend`` runs Tesseract: this thread (tesserocr runs in
    the calling thread) or the finished child processes (pytesseract's ``tesseract``)."""
    if backend == "tesserocr":
        return time.thread_time()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


_ENGINES: dict[tuple[int, OcrConfig], OcrEngine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(config: OcrConfig = OcrConfig()) -> OcrEngine:
    """The per-process cached engine for ``config`` (keyed by pid too: safe after fork)."""
    key = (os.getpid(), config)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = OcrEngine(config)
        return engine


def ocr_image(image: Image.Image, config: OcrConfig = OcrConfig()) -> OcrResult:
    """OCR one page image: words (blank and low-confidence ones dropped) and 0-1000 boxes."""
    return get_engine(config).recognize(image)
