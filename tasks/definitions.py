"""Benchmark tasks as data (in the manner of lm-evaluation-harness): source, splits, languages, prompt template,
label strings, the app's title and examples. Training (training.train), evaluation (eval) and the app use the same
definitions: one source of truth for prompts and labels; code dispatches on a task's fields, never on its name. The prompt goes to the encoder (or, for the plain-LLM baseline, straight to the LLM); each choice is
scored as `target_delimiter + label` after it."""
import string
from dataclasses import dataclass, field

from fusion.errors import ConfigError

from .examples import EXAMPLES


@dataclass(frozen=True)
class HubSource:
    """A Hugging Face dataset and how its own schema maps onto a task's fields: `config` and `split` may contain
    {lang}; `fields` renames its columns to ours; `label_names` are its label names in the task's label order
    (index = the task's label id), read from a string column or from a ClassLabel's names, so that a dataset whose
    label ids are ordered otherwise still maps right. `revision`: the dataset repository's branch, tag or commit.
    A local copy in the Hub dataset's layout (tasks.hub_copy) loads through the same mapping (tasks.data)."""
    path: str
    split: str
    config: str | None = None
    fields: dict = field(default_factory=dict)
    label_names: tuple = ()
    revision: str = "main"

    def config_split(self, lang: str | None) -> tuple[str | None, str]:
        """The config and split that hold one language."""
        fmt = lambda s: s.format(lang=lang) if s else s
        return fmt(self.config), fmt(self.split)


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    languages: tuple
    template: str                       # str.format over the example's fields
    text_fields: tuple                  # the fields the template needs
    choices: tuple                      # label strings, index = label id
    hub: HubSource | None               # the test split on the hub
    local_test: dict                    # lang -> file under --data-dir ("*" = any language, filtered by `lang`)
    train_local: str | None = None      # English training data under --data-dir
    dev_local: str | None = None        # English dev data under --data-dir (else a held-out part of train)
    train_hub: HubSource | None = None
    target_delimiter: str = " "
    family: str = ""                    # tasks of one family share a trained bridge (nli, news, sentiment, topic)
    english: str = "en"                 # the code of English in this task's files (dev rows are filtered by it)
    groups: dict = field(default_factory=dict)  # named language groups averaged in the results, e.g. low-resource
    open_languages: bool = False        # any language code present in the local file is accepted, not only `languages`
    title: str = ""                     # a short name for the app's task selector (default: the description)
    examples: tuple = ()                # the app's examples: {lang (a language name), <each of text_fields>}
    version: str = "1.0"                # bump when the template, choices or data change (results carry it)

    def prompt(self, example: dict) -> str:
        return self.template.format(**{k: str(example[k]).strip() for k in self.text_fields})

    def field_spans(self, example: dict) -> tuple:
        """Where the example's own text lies in prompt(example): ((start, end), ...) character offsets, one per text
        field the template places, in order (the rest is the template's own English words)."""
        spans, at = [], 0
        for literal, name, _, _ in string.Formatter().parse(self.template):
            at += len(literal)
            if name is not None:
                n = len(str(example[name]).strip())
                spans.append((at, at + n))
                at += n
        return tuple(spans)

    @property
    def label(self) -> str:
        return self.title or self.description

    @property
    def targets(self) -> list[str]:
        return [self.target_delimiter + c for c in self.choices]

    @property
    def family_task(self) -> str:
        """The task whose English data trains this task's family (its bridges and probes), e.g. xnli for indicxnli."""
        return FAMILIES.get(self.family, self.name)


NLI_LABELS = ("Entailment", "Neutral", "Contradiction")
NLI_TEMPLATE = "Premise: {premise} Hypothesis: {hypothesis} Label:"
XNLI_HUB_LABELS = ("entailment", "neutral", "contradiction")   # facebook/xnli's ClassLabel names, in our order

TASKS = {t.name: t for t in [
    Task(name="xnli", family="nli",
         description="XNLI natural language inference, 15 languages (Conneau et al., 2018)",
         languages=("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"),
         template=NLI_TEMPLATE, text_fields=("premise", "hypothesis"), choices=NLI_LABELS,
         hub=HubSource("facebook/xnli", split="test", config="{lang}", label_names=XNLI_HUB_LABELS),
         local_test={"*": "xnli/test.jsonl"},
         train_local="english_train/mnli_train_subset.jsonl", dev_local="english_train/mnli_dev_subset.jsonl",
         train_hub=HubSource("nyu-mll/multi_nli", split="train"),
         title="Natural language inference (premise / hypothesis)", examples=EXAMPLES["xnli"]),
    Task(name="indicxnli", family="nli",
         description="IndicXNLI: XNLI machine-translated into 11 Indic languages (Aggarwal et al., 2022)",
         languages=("as", "bn", "gu", "hi", "kn", "ml", "mr", "or", "pa", "ta", "te"),
         template=NLI_TEMPLATE, text_fields=("premise", "hypothesis"), choices=NLI_LABELS,
         hub=HubSource("Divyanshu/indicxnli", split="test", config="{lang}", label_names=XNLI_HUB_LABELS),
         local_test={"*": "indicxnli/test.jsonl"},
         train_local="english_train/mnli_train_subset.jsonl", dev_local="english_train/mnli_dev_subset.jsonl",
         train_hub=HubSource("nyu-mll/multi_nli", split="train")),
    Task(name="sinhala_news", family="news",
         description="Sinhala news category classification, 5 classes; English side from BBC News",
         languages=("si", "en"),
         template="News Sentence: {text} Category:", text_fields=("text",),
         choices=("Business", "Political", "Entertainment", "Sports", "Science"),
         hub=HubSource("Themira/en_si_news_classification_with_label_name", split="test_{lang}",
                       label_names=("Business", "Political", "Entertainment", "Sports", "Science")),
         local_test={"si": "sinhala_news/test.jsonl"},
         train_local="english_train/bbc_news_en.jsonl",
         train_hub=HubSource("Themira/en_si_news_classification_with_label_name", split="train_en",
                             label_names=("Business", "Political", "Entertainment", "Sports", "Science")),
         title="News topic (Sinhala news, 5 classes)", examples=EXAMPLES["sinhala_news"]),
    Task(name="amazon_reviews", family="sentiment",
         description="Multilingual Amazon Reviews (MARC), 5-star rating as 5 sentiment classes",
         languages=("de", "en", "es", "fr", "ja", "zh"),
         template="Review: {text} Label:", text_fields=("text",),
         choices=("Very Negative", "Negative", "Neutral", "Positive", "Very Positive"),
         hub=HubSource("mteb/amazon_reviews_multi", split="test", config="{lang}"),
         local_test={"*": "amazon_reviews_multi/test.jsonl"},
         train_local="english_train/marc_en_train.jsonl",
         train_hub=HubSource("mteb/amazon_reviews_multi", split="train", config="en"),
         title="Sentiment (product reviews, 5 classes)", examples=EXAMPLES["amazon_reviews"]),
]}

SIB_LABEL_NAMES = ("science/technology", "travel", "politics", "sports", "health", "entertainment", "geography")
SIB_HUB = dict(path="Davlan/sib200", config="{lang}", fields={"category": "label"}, label_names=SIB_LABEL_NAMES)
SIB_LOW_RESOURCE = ("sin_Sinh", "tam_Taml", "ben_Beng", "hin_Deva", "mal_Mlym", "tel_Telu", "npi_Deva", "urd_Arab",
                    "mar_Deva", "guj_Gujr", "kan_Knda", "pan_Guru", "swh_Latn")
TASKS["sib200"] = Task(
    name="sib200", family="topic",
    description="SIB-200 topic classification of FLORES-200 sentences, 7 topics, 205 languages (Adelani et al., 2023)",
    languages=("eng_Latn", "sin_Sinh", "tam_Taml", "ben_Beng", "hin_Deva", "mal_Mlym", "tel_Telu", "npi_Deva",
               "urd_Arab", "mar_Deva", "guj_Gujr", "kan_Knda", "pan_Guru", "swh_Latn", "amh_Ethi", "zho_Hans",
               "arb_Arab", "fra_Latn", "deu_Latn", "spa_Latn", "rus_Cyrl", "tha_Thai", "vie_Latn", "tur_Latn",
               "ell_Grek", "bul_Cyrl", "jpn_Jpan", "ind_Latn"),
    template="Topic: {text} Category:", text_fields=("text",),
    choices=("Science", "Travel", "Politics", "Sports", "Health", "Entertainment", "Geography"),
    hub=HubSource(split="test", **SIB_HUB), local_test={"*": "sib200/test.jsonl"},
    train_local="sib200/train.jsonl", dev_local="sib200/dev.jsonl",
    train_hub=HubSource(split="train", **{**SIB_HUB, "config": "eng_Latn"}),
    english="eng_Latn", open_languages=True,
    title="Topic (FLORES sentences, 7 classes)", examples=EXAMPLES["sib200"],
    groups={"low-resource": SIB_LOW_RESOURCE, "si-ta-bn": ("sin_Sinh", "tam_Taml", "ben_Beng")})

# family -> the task whose data trains its bridge (and that the app offers), in the app's order
FAMILIES = {"news": "sinhala_news", "sentiment": "amazon_reviews", "nli": "xnli", "topic": "sib200"}


def get_task(name: str) -> Task:
    name = FAMILIES.get(name, name)
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; choose one of {', '.join(TASKS)} "
                          f"(or a family: {', '.join(FAMILIES)})")
    return TASKS[name]


@dataclass(frozen=True)
class AlignmentTask:
    """Cross-lingual alignment on parallel sentences (in the spirit of MEXA, Kargaran et al., 2024): for each
    source sentence, is its translation the nearest (cosine of mean-pooled encoder states) among all target
    sentences? Measured for every hidden state of the encoder (0 = embeddings) and for the fused representation."""
    name: str
    description: str
    source: str                         # the query language (English)
    languages: tuple                    # the target languages
    local_file: str                     # under --data-dir: one JSON object per line with id, source and targets
    hub: HubSource | None = None        # the parallel sentences on the Hub: a column per language, renamed to ours
    version: str = "1.0"


NTREX_HUB_COLUMNS = {"eng_Latn": "en", "sin_Sinh": "si", "tam_Taml": "ta", "ben_Beng": "bn", "hin_Deva": "hi",
                     "mal_Mlym": "ml"}   # mteb/NTREX: one row per sentence, one column per language (FLORES codes)

ALIGNMENT_TASKS = {t.name: t for t in [
    AlignmentTask(name="ntrex_alignment",
                  description="NTREX-128 parallel news sentences: English -> X retrieval@1 per encoder layer "
                              "and for the fused representation (Federmann et al., 2022)",
                  source="en", languages=("si", "ta", "bn", "hi", "ml"), local_file="ntrex128/parallel.jsonl",
                  hub=HubSource("mteb/NTREX", split="test", config="default", fields=NTREX_HUB_COLUMNS)),
]}


def get_any_task(name: str) -> "Task | AlignmentTask":
    """A classification task (or family) or an alignment task."""
    if name in ALIGNMENT_TASKS:
        return ALIGNMENT_TASKS[name]
    if FAMILIES.get(name, name) not in TASKS:
        raise ConfigError(f"unknown task {name!r}; choose one of {', '.join([*TASKS, *ALIGNMENT_TASKS])} "
                          f"(or a family: {', '.join(FAMILIES)})")
    return get_task(name)
