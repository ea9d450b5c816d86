"""User text before it reaches a model: clean it, cap its length, and name its language from its script."""
import unicodedata
from dataclasses import dataclass, field

# (first, last code point, script, language code, language name). The language is a guess from the script
# alone: Devanagari is also Marathi and Nepali, Bengali script also Assamese, Arabic script also Urdu/Persian.
SCRIPTS = [
    (0x0041, 0x024F, "Latin", "en", "English"),
    (0x1E00, 0x1EFF, "Latin", "en", "English"),
    (0x0370, 0x03FF, "Greek", "el", "Greek"),
    (0x0400, 0x052F, "Cyrillic", "ru", "Russian"),
    (0x0590, 0x05FF, "Hebrew", "he", "Hebrew"),
    (0x0600, 0x06FF, "Arabic", "ar", "Arabic"),
    (0x0750, 0x077F, "Arabic", "ar", "Arabic"),
    (0x08A0, 0x08FF, "Arabic", "ar", "Arabic"),
    (0xFB50, 0xFDFF, "Arabic", "ar", "Arabic"),
    (0xFE70, 0xFEFF, "Arabic", "ar", "Arabic"),
    (0x0900, 0x097F, "Devanagari", "hi", "Hindi"),
    (0x0980, 0x09FF, "Bengali", "bn", "Bengali"),
    (0x0A00, 0x0A7F, "Gurmukhi", "pa", "Punjabi"),
    (0x0A80, 0x0AFF, "Gujarati", "gu", "Gujarati"),
    (0x0B00, 0x0B7F, "Oriya", "or", "Odia"),
    (0x0B80, 0x0BFF, "Tamil", "ta", "Tamil"),
    (0x0C00, 0x0C7F, "Telugu", "te", "Telugu"),
    (0x0C80, 0x0CFF, "Kannada", "kn", "Kannada"),
    (0x0D00, 0x0D7F, "Malayalam", "ml", "Malayalam"),
    (0x0D80, 0x0DFF, "Sinhala", "si", "Sinhala"),
    (0x0E00, 0x0E7F, "Thai", "th", "Thai"),
    (0x10A0, 0x10FF, "Georgian", "ka", "Georgian"),
    (0x1100, 0x11FF, "Hangul", "ko", "Korean"),
    (0x3040, 0x30FF, "Kana", "ja", "Japanese"),
    (0x3130, 0x318F, "Hangul", "ko", "Korean"),
    (0x3400, 0x4DBF, "Han", "zh", "Chinese"),
    (0x4E00, 0x9FFF, "Han", "zh", "Chinese"),
    (0xAC00, 0xD7AF, "Hangul", "ko", "Korean"),
]
LANGUAGE_OF = {script: (code, name) for _, _, script, code, name in SCRIPTS}


def script_of(ch: str) -> str | None:
    cp = ord(ch)
    for first, last, script, _, _ in SCRIPTS:
        if first <= cp <= last:
            return script
    return None


@dataclass
class Language:
    code: str | None          # "si", "ta", ... or None when no letter was recognised
    name: str                 # "Sinhala", ... or "unknown"
    script: str | None
    shares: dict = field(default_factory=dict)  # script -> share of the letters, largest first

    @property
    def mixed(self) -> bool:
        return len([s for s in self.shares.values() if s >= 0.2]) > 1

    def describe(self) -> str:
        if self.code is None:
            return "Language: unknown (no letters of a known script)"
        text = f"Language (from the script): **{self.name}** (`{self.code}`, {self.script} script)"
        if self.mixed:
            text += "; mixed scripts: " + ", ".join(f"{s} {v:.0%}" for s, v in self.shares.items() if v >= 0.05)
        return text


def detect_language(text: str) -> Language:
    """The majority script among the letters (Unicode categories L*/M*); Han with any kana -> Japanese."""
    counts: dict[str, int] = {}
    for ch in text:
        if unicodedata.category(ch)[0] in "LM":
            script = script_of(ch)
            if script:
                counts[script] = counts.get(script, 0) + 1
    total = sum(counts.values())
    if not total:
        return Language(None, "unknown", None)
    shares = {s: n / total for s, n in sorted(counts.items(), key=lambda kv: -kv[1])}
    script = next(iter(shares))
    if script == "Han" and "Kana" in shares:
        script = "Kana"
    code, name = LANGUAGE_OF[script]
    return Language(code, name, script, shares)


@dataclass
class CleanText:
    text: str
    notes: list[str]


def clean_text(text, max_chars: int) -> CleanText:
    """Drop control characters (keep tab/newline), make the text valid UTF-8, cap its length."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        text = str(text)
    notes = []
    valid = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> '?'
    if valid != text:
        notes.append("Characters that are not valid Unicode text were replaced by '?'.")
    kept = "".join(" " if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" else ch for ch in valid)
    removed = sum(a != b for a, b in zip(kept, valid))
    if removed:
        notes.append(f"{removed} control character{'s' if removed > 1 else ''} removed.")
    if len(kept) > max_chars:
        notes.append(f"The text has {len(kept):,} characters: only the first {max_chars:,} were read.")
        kept = kept[:max_chars]
    return CleanText(kept.strip(), notes)
