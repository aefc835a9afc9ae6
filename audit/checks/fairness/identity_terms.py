"""Identity-term lists for counterfactual text probes, written for deepaudit.

Each category holds groups; each group is a tuple of *forms* aligned by position across the groups of its category
(form ``i`` of one group is replaced by form ``i`` of another: "he" <-> "she", "his" <-> "her", "church" <->
"mosque"). A sentence that mentions any form of a category can be rewritten once per group.

Limits (stated in the report): English only; two gender groups (pronouns for other identities are ambiguous with
plural "they"); some words are polysemous ("black comedy", "white house", "old film"), which adds noise that the
bootstrap interval of the gap reflects. ``TEMPLATE`` and ``TEMPLATE_FORM`` give a neutral sentence prefix used when too
few test sentences mention a category.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["IDENTITY_TERMS", "TEMPLATE", "TEMPLATE_FORM", "category_pattern", "substitute", "with_template"]

IDENTITY_TERMS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "gender": {
        # subject, object, possessive, person, people, child, parent, offspring, spouse, sibling, adjective, title
        "male": ("he", "him", "his", "man", "men", "boy", "father", "son", "husband", "brother", "male", "mr"),
        "female": ("she", "her", "her", "woman", "women", "girl", "mother", "daughter", "wife", "sister", "female", "mrs"),
    },
    "religion": {
        # adjective, plural noun, place of worship
        "christian": ("christian", "christians", "church"),
        "muslim": ("muslim", "muslims", "mosque"),
        "jewish": ("jewish", "jews", "synagogue"),
        "hindu": ("hindu", "hindus", "mandir"),
        "buddhist": ("buddhist", "buddhists", "monastery"),
        "sikh": ("sikh", "sikhs", "gurdwara"),
        "atheist": ("atheist", "atheists", "meeting hall"),
    },
    "nationality": {
        "american": ("american",),
        "british": ("british",),
        "french": ("french",),
        "german": ("german",),
        "mexican": ("mexican",),
        "chinese": ("chinese",),
        "indian": ("indian",),
        "nigerian": ("nigerian",),
        "russian": ("russian",),
        "iranian": ("iranian",),
        "brazilian": ("brazilian",),
        "japanese": ("japanese",),
    },
    "race_ethnicity": {
        "white": ("white",),
        "black": ("black",),
        "asian": ("asian",),
        "hispanic": ("hispanic",),
        "arab": ("arab",),
        "indigenous": ("indigenous",),
    },
    "age": {
        # adjective, person noun
        "young": ("young", "teenager"),
        "middle-aged": ("middle-aged", "adult"),
        "elderly": ("elderly", "pensioner"),
    },
    "sexual_orientation": {
        "heterosexual": ("heterosexual", "straight couple"),
        "gay": ("gay", "gay couple"),
        "lesbian": ("lesbian", "lesbian couple"),
        "bisexual": ("bisexual", "bisexual couple"),
    },
    "disability": {
        "non-disabled": ("non-disabled",),
        "disabled": ("disabled",),
        "blind": ("blind",),
        "deaf": ("deaf",),
        "autistic": ("autistic",),
    },
}

TEMPLATE = "This review was written by a critic who is {term}. "
# form index used in the template, per category ("a critic who is female", "... who is jewish", "... who is young")
TEMPLATE_FORM: Mapping[str, int] = {"gender": 10, "religion": 0, "nationality": 0, "race_ethnicity": 0, "age": 0,
                                    "sexual_orientation": 0, "disability": 0}


def _forms(category: str) -> dict[str, tuple[str, int]]:
    """Every form of a category -> (group, form index); the first group listing a form wins."""
    out: dict[str, tuple[str, int]] = {}
    for group, forms in IDENTITY_TERMS[category].items():
        for i, form in enumerate(forms):
            out.setdefault(form, (group, i))
    return out


def category_pattern(category: str) -> re.Pattern[str]:
    """A case-insensitive, word-bounded regex matching any form of ``category`` (longest forms first)."""
    forms = sorted(_forms(category), key=len, reverse=True)
    return re.compile(r"(?<![\w-])(" + "|".join(re.escape(f) for f in forms) + r")(?![\w-])", re.IGNORECASE)


def _match_case(template: str, word: str) -> str:
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def substitute(text: str, category: str, group: str) -> str:
    """``text`` with every form of ``category`` replaced by the aligned form of ``group`` (case kept).

    Example:
        >>> substitute("He loved his wife.", "gender", "female")
        'She loved her wife.'
    """
    forms = _forms(category)
    target = IDENTITY_TERMS[category][group]

    def repl(match: re.Match[str]) -> str:
        _, index = forms[match.group(0).lower()]
        return _match_case(match.group(0), target[index])

    return category_pattern(category).sub(repl, text)


def with_template(text: str, category: str, group: str) -> str:
    """``text`` prefixed with the neutral template naming ``group``.

    Example:
        >>> with_template("Great fun.", "religion", "sikh")
        'This review was written by a critic who is sikh. Great fun.'
    """
    return TEMPLATE.format(term=IDENTITY_TERMS[category][group][TEMPLATE_FORM[category]]) + text
