"""Tell English, Hinglish and Hindi apart in one message, only when the message is clear.

The bot answers in the language of the `language` slot: `en`, `hi-Latn` (Hindi in Latin
letters, "Hinglish") or `hi` (Devanagari). A message changes it only when it clearly is
written in one of them: "ok", "2", "masala chai", an emoji or a button tap say nothing
about the customer's language, so `detect` returns None for them and the slot stays.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

EN = "en"
HINGLISH = "hi-Latn"
HINDI = "hi"
LANGUAGES = (EN, HINGLISH, HINDI)

# Words only Hinglish uses (Hindi grammar words, common verbs and replies as typed in
# Latin letters). Words English shares ("to", "me", "do", "main", "hi") are left out.
HINGLISH_WORDS = frozenset(
    """
    hai hain ho hoon hu tha thi kya kyu kyun kyon kaise kaisa kitna kitne kitni kab
    kahan kaha kidhar kaun kon mujhe muje mujhko humko hume hamein mera meri mere mero
    apna apni apne aapka aapki tera teri tumhara chahiye chaiye chahie karo kar kardo
    kariye karna karni karde karein karu karun dikhao dikha dikhado dikhaiye dikhaye
    batao bata bataiye bataye bolo bol boliye daal dalo daalo dal bhejo bhej bhejdo
    hatao hata hatado nikalo nikaal lelo lena leni dena dedo dijiye chalega chalo ruko
    bas bhai bhaiya yaar nahi nahin nhi haan han haa ji accha acha achha theek thik
    mein ka ki ke ko se par pe aur bhi wala wali wale sab saare sare kuch koi abhi phir
    fir dobara wapas jaldi zara lekin magar toh sirf ek teen chaar paanch liye hua hui
    hue gaya gayi raha rahi rahe sakta sakte sakti milega milegi chahta chahti shukriya
    dhanyavaad dhanyawad namaste
    """.split()
)

# English words a Hinglish message rarely has: articles, pronouns, auxiliaries, question
# words. "yes", "no", "please" and "thanks" are everybody's, so they say nothing.
ENGLISH_WORDS = frozenset(
    """
    the a an i i'm im i'd i'll my mine you your you're we our us it it's its this that
    these those what where when which who why how is are was were am be been would could
    should can can't cannot will won't don't doesn't didn't does did have has had want
    wanted like need of for with from about into not some any
    there here just also too very much many more want let's lets
    """.split()
)

_DEVANAGARI = re.compile(r"[\u0900-\u097F]")
_LATIN = re.compile(r"[A-Za-z]")
_WORD = re.compile(r"[A-Za-z']+")

# Asking for a language by name ("English please", "Hindi mein bolo", "हिंदी में बात करो").
_ASKS = (
    (EN, re.compile(r"\b(english|angrezi|angreji|inglish)\b|अंग्रेज़?ी|इंग्लिश", re.I)),
    (HINDI, re.compile(r"\b(devanagari|devnagari)\b|देवनागरी|हिंदी|हिन्दी", re.I)),
    (HINGLISH, re.compile(r"\b(hindi|hinglish)\b", re.I)),
)


def detect(text: str | None, names: Iterable[str] = ()) -> str | None:
    """The language `text` is clearly written in, or None when it does not say. `names`
    (the catalog's product names) say nothing either: "Kulhad Set of 6" is no English."""
    text = text or ""
    if text.startswith("/"):  # a button's payload, never typed words
        return None
    devanagari = len(_DEVANAGARI.findall(text))
    latin = len(_LATIN.findall(text))
    if devanagari and devanagari >= latin:
        return HINDI  # the script is the customer's choice, even for "हाँ"
    words = [word.lower() for word in _WORD.findall(_without(text, names))]
    if len(words) < 2:
        return None  # "ok", "2", "chai", an emoji
    hinglish = sum(word in HINGLISH_WORDS for word in words)
    english = sum(word in ENGLISH_WORDS for word in words)
    # English words slip into Hinglish far more often than the other way round.
    if hinglish >= 2 and hinglish >= english or hinglish == 1 and english == 0:
        return HINGLISH
    if english >= 1 and hinglish == 0:
        return EN
    return None


def _without(text: str, names: Iterable[str]) -> str:
    pattern = _names_pattern(tuple(names))
    return pattern.sub(" ", text) if pattern is not None else text


@functools.lru_cache(maxsize=4)
def _names_pattern(names: tuple[str, ...]) -> re.Pattern[str] | None:
    # Compiled once per catalog, not per message: a merchant's catalog has thousands.
    latin = sorted({name for name in names if _LATIN.search(name)}, key=len, reverse=True)
    if not latin:
        return None
    alternatives = "|".join(re.escape(name) for name in latin)
    return re.compile(r"\b(?:" + alternatives + r")\b", re.IGNORECASE)


def requested(text: str | None) -> str | None:
    """The language a customer asks for by name; the last one named wins ("English nahi,
    Hindi mein"). Hindi asked for in Latin letters is answered in Latin letters."""
    text = text or ""
    named = [
        (match.start(), language)
        for language, pattern in _ASKS
        for match in pattern.finditer(text)
    ]
    if not named:
        return None
    language = max(named)[1]
    if language == HINGLISH and _DEVANAGARI.search(text):
        return HINDI
    return language
