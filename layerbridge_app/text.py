"""User text before it reaches a model: clean it, cap its length, and name its language from its script."""
import unicodedata
from dataclasses import dataclass, field

# The first word of a letter's Unicode name (unicodedata.name: "SINHALA LETTER AYANNA", "CJK UNIFIED IDEOGRAPH-4E00")
# -> (script, language code, language name). The language is a guess from the script alone: Devanagari is also
# Marathi and Nepali, Bengali script also Assamese, Arabic script also Urdu/Persian.
SCRIPTS = {
    "LATIN": ("Latin", "en", "English"), "GREEK": ("Greek", "el", "Greek"), "CYRILLIC": ("Cyrillic", "ru", "Russian"),
    "HEBREW": ("Hebrew", "he", "Hebrew"), "ARABIC": ("Arabic", "ar", "Arabic"),
    "DEVANAGARI": ("Devanagari", "hi", "Hindi"), "BENGALI": ("Bengali", "bn", "Bengali"),
    "GURMUKHI": ("Gurmukhi", "pa", "Punjabi"), "GUJARATI": ("Gujarati", "gu", "Gujarati"),
    "ORIYA": ("Oriya", "or", "Odia"), "TAMIL": ("Tamil", "ta", "Tamil"), "TELUGU": ("Telugu", "te", "Telugu"),
    "KANNADA": ("Kannada", "kn", "Kannada"), "MALAYALAM": ("Malayalam", "ml", "Malayalam"),
    "SINHALA": ("Sinhala", "si", "Sinhala"), "THAI": ("Thai", "th", "Thai"), "GEORGIAN": ("Georgian", "ka", "Georgian"),
    "HANGUL": ("Hangul", "ko", "Korean"), "HIRAGANA": ("Kana", "ja", "Japanese"), "KATAKANA": ("Kana", "ja", "Japanese"),
    "CJK": ("Han", "zh", "Chinese"),
}
LANGUAGE_OF = {script: (code, name) for script, code, name in SCRIPTS.values()}


def script_of(ch: str) -> str | None:
    known = SCRIPTS.get(unicodedata.name(ch, "").split(" ", 1)[0])
    return known[0] if known else None


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
