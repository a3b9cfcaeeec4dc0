"""Vocabularies and text generators for the synthetic corpus.

All lists are embedded (no downloads). The shared vocabulary is a few hundred common English
stems expanded with regular inflections into a few thousand word forms; each class adds a short
list of its own words, and confusable classes leak words into each other so that text alone
does not give the class away.
"""

from __future__ import annotations

import bisect
import itertools
import random
from functools import lru_cache


def _words(text: str) -> list[str]:
    """Whitespace-separated words of an embedded list."""
    return text.split()


_NOUNS = _words(
    """
        account action activity address administration advice agency agreement amount
        analysis answer approach area argument arrangement article aspect assessment
        assistance attention attitude authority balance basis behavior benefit board body
        branch budget building business call campaign capacity capital career case cause
        center chairman chance change chapter charge chart check choice circumstance claim
        class client code colleague comment commission committee community company
        comparison competition concentration concept concern condition conference confidence
        consequence consideration consumer contact content context contract contribution
        control cost council counsel country course court coverage credit criteria customer
        data date deadline decision definition delivery demand department description design
        detail development difference direction director discussion distribution district
        division document draft duty effect effort element employee end energy equipment
        estimate evaluation event evidence example exception exchange executive exercise
        experience expert facility fact factor feature figure file finding firm focus force
        format foundation framework function fund goal government group growth guidance
        guideline history hour idea impact importance incident increase industry influence
        information initiative inquiry instance institute instruction insurance interest
        interview investigation issue item job judgment knowledge labor language law leader
        legislation letter level liability limit line list location loss machine management
        manager manufacturer market material matter meeting member message method minute
        model moment month motion nature need network notice number objective obligation
        occasion office officer operation opinion opportunity option order organization
        outcome output owner package page paper part participant partner party payment
        people percent period person perspective phase plan plant point policy position
        possibility practice preparation presence president pressure price principle
        priority problem procedure process product production professor program progress
        project proposal protection provision public publication purpose quality quantity
        question range rate reaction reason record reference region regulation relation
        relationship release report representative request requirement research resource
        response responsibility result review right risk role rule safety sale sample
        schedule scheme science section sector security selection sense series service
        session share situation size source space speaker specialist staff stage standard
        statement status step strategy strength structure study subject success summary
        supply support surface survey system table target task team technology term
        territory test text theory thing time topic total trade training treatment trend
        trial type unit use user value variety version view volume week work worker world
        year tobacco cigarette smoker package brand flavor filter leaf crop farmer health
        """
)

_VERBS = _words(
    """
        accept achieve acquire add address adjust advise affect agree allow analyze announce
        answer appear apply appoint approve arrange ask assess assign assist assume attach
        attend avoid base begin believe benefit build calculate call carry change charge
        check choose claim clarify collect combine comment compare complete concern conduct
        confirm connect consider contact contain continue contribute control correct cover
        create decide deliver demonstrate depend describe design determine develop discuss
        distribute divide document draft enable encourage end ensure establish estimate
        evaluate examine exceed expand expect explain express extend file fill finish focus
        follow forward gather handle help identify implement improve include increase
        indicate inform install intend introduce investigate involve issue join keep lead
        learn limit list maintain manage measure meet mention monitor move need note notify
        obtain offer open operate order organize own perform plan play prepare present
        prevent print process produce propose protect provide publish purchase question
        raise reach receive recommend record reduce refer reflect regard register relate
        release remain remove repeat replace report represent request require resolve
        respond return review revise schedule select send serve settle share ship show sign
        start state submit suggest supply support test track train transfer treat turn
        update use verify visit wait want
        """
)

_ADJECTIVES = _words(
    """
        able accurate active actual additional adequate annual appropriate available basic
        brief careful central certain clear close commercial common complete complex
        consistent current daily detailed different direct early effective entire equal
        essential exact existing external fair federal final financial firm formal former
        free frequent full general global good great high important independent individual
        initial internal key large late legal likely limited local long low main major
        maximum medical minimum minor modern monthly national natural necessary new normal
        official open original overall particular past personal possible potential practical
        present previous primary prior private proper public quarterly quick rapid recent
        regional regular relevant reliable responsible safe separate serious several short
        significant similar simple single small social special specific standard strong
        substantial successful sufficient technical total typical unique usual various
        weekly whole wide
        """
)

_FUNCTION = _words(
    """
        the of and to a in for is on that by this with as at from be are or it an was will
        have not which we our all has been their can but its more other any these may also
        such into than only should would there they under within upon per each about after
        before during between
        """
)

FIRST_NAMES = _words(
    """
        James John Robert Michael William David Richard Joseph Thomas Charles Mary Patricia
        Linda Barbara Elizabeth Jennifer Susan Margaret Dorothy Lisa Nancy Karen Betty Helen
        Sandra Donna Carol Ruth Sharon Steven Paul Mark Donald George Kenneth Edward Brian
        Ronald Anthony Kevin Jason Gary Timothy Frank Scott Eric Stephen Andrew Raymond
        Gregory Joshua Jerry Dennis Walter Peter Harold Douglas Henry Carl Arthur Ryan Roger
        Alan Janet Diane Alice Julie Joyce Evelyn Cheryl Martha Gloria Teresa Ann Frances
        Kathryn Jean Judith Rose Beverly Denise Marilyn
        """
)

LAST_NAMES = _words(
    """
        Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore
        Martin Jackson Thompson White Harris Clark Lewis Robinson Walker Young Allen King
        Wright Scott Green Baker Adams Nelson Hill Campbell Mitchell Roberts Carter Phillips
        Evans Turner Parker Collins Edwards Stewart Morris Murphy Cook Rogers Morgan Cooper
        Peterson Reed Bailey Bell Kelly Howard Ward Cox Richardson Wood Watson Brooks
        Bennett Gray Hughes Price Sanders Myers Long Ross Foster Powell Jenkins Perry
        Russell Sullivan Fisher Ellis Hamilton Graham Wallace Cole West Jordan
        """
)

_COMPANY_A = _words(
    """
        Allied Consolidated National Continental Southern Eastern Pioneer Summit Liberty
        Atlas Keystone Heritage Meridian Central General United Standard Crescent Harbor
        Pinnacle
        """
)
_COMPANY_B = _words(
    """
        Tobacco Leaf Research Industries Products Chemical Laboratories Packaging Brands
        Marketing Associates Foods Paper Manufacturing Holdings Sciences Systems
        Distributors
        """
)
_COMPANY_C = _words(
    """
        Inc. Company Corporation Co. Ltd. Group
        """
)
CITIES = _words(
    """
        Richmond Winston-Salem Louisville Durham Greensboro Atlanta Chicago Boston Denver
        Houston Dallas Cincinnati Raleigh Baltimore Philadelphia Memphis Nashville Columbus
        Portland Madison
        """
)
STATES = _words(
    """
        VA NC KY GA IL MA CO TX OH MD PA TN OR WI NY NJ
        """
)
STREETS = _words(
    """
        Main Oak Park Maple Cedar Elm Washington Lake Hill Walnut Church Market Spring Broad
        """
)
MONTHS = _words(
    """
        January February March April May June July August September October November
        December
        """
)

# Class vocabularies. Keys are the RVL-CDIP label names.
CLASS_WORDS: dict[str, list[str]] = {
    "advertisement": _words(
        """
        new now save free offer taste flavor smooth rich enjoy pleasure refreshing quality
        finest great only coupon special value pack try today discover best premium mild
        menthol lights famous america's favorite satisfaction genuine style introducing
        limited warning surgeon general lower tar nicotine
        """
    ),
    "budget": _words(
        """
        budget fiscal forecast actual variance expenses revenue allocation personnel
        salaries benefits overhead travel supplies equipment capital operating subtotal
        total projected approved funding quarter year-to-date carryover appropriation cost
        center line item reserve contingency grant allowance increase decrease
        """
    ),
    "email": _words(
        """
        sent received subject reply forward forwarded original message attachment attached
        inbox mailbox cc bcc email thanks regards fyi asap importance high low recipients
        distribution list priority conversation thread delivered read
        """
    ),
    "file_folder": _words(
        """
        file folder confidential index tab drawer box records correspondence retention
        archive contents section binder label volume miscellaneous classified restricted
        copies originals storage
        """
    ),
    "form": _words(
        """
        form name address signature date please print complete check applicable office use
        only approved authorized number code department telephone social security employee
        applicant section instructions attach copy certify required field
        """
    ),
    "handwritten": _words(
        """
        note notes thanks call back please see me tomorrow today later ok good idea remember
        pick up check with ask about love regards hi dear talk soon meeting tonight
        """
    ),
    "invoice": _words(
        """
        invoice bill billed remit payment due net terms amount quantity qty unit price
        description total subtotal tax freight shipping ship sold purchase order account
        balance paid statement customer vendor charges discount
        """
    ),
    "letter": _words(
        """
        dear sincerely yours truly regards enclosed enclose pleased thank writing letter
        respond hesitate contact hope trust appreciate kind assistance faithfully cordially
        behalf copy enclosure
        """
    ),
    "memo": _words(
        """
        memorandum memo to from date subject re cc copy attached distribution following
        please note advised understanding recommend discussed follow-up action inter-office
        correspondence department staff
        """
    ),
    "news_article": _words(
        """
        reported said according officials spokesman yesterday announced told news times
        daily reporter week city state federal lawsuit jury court smokers industry critics
        sources interview editorial
        """
    ),
    "presentation": _words(
        """
        overview objectives agenda key findings summary next steps strategy goals
        recommendations background issues opportunities results timeline action plan
        conclusions highlights status review
        """
    ),
    "questionnaire": _words(
        """
        questionnaire survey respondent answer question circle check one agree disagree
        strongly neither often sometimes never always rarely yes no opinion interviewer
        rating scale satisfied somewhat very
        """
    ),
    "resume": _words(
        """
        resume curriculum vitae education experience employment professional positions
        university degree bachelor master ph.d. graduate member societies honors awards
        publications born married citizenship languages references present
        """
    ),
    "scientific_publication": _words(
        """
        abstract introduction methods results discussion references et al. journal vol. fig.
        table significant mice rats cells exposure doses mg/kg concentration measured
        statistical analysis samples p<0.05 observed
        """
    ),
    "scientific_report": _words(
        """
        report project progress period objectives experimental procedure results conclusions
        appendix summary contents laboratory tested samples analysis prepared submitted
        findings recommendations phase study
        """
    ),
    "specification": _words(
        """
        specification spec revision effective tolerance minimum maximum nominal material
        dimensions weight moisture length circumference width grade standard test method
        requirement acceptable limit supplier approved code
        """
    ),
}

# Classes that share layout and vocabulary; words leak between them (a sibling listed twice is
# drawn twice as often).
SIBLINGS: dict[str, list[str]] = {
    "memo": ["letter", "email", "letter", "email", "form"],
    "letter": ["memo", "email", "memo", "resume", "news_article"],
    "email": ["memo", "letter", "memo", "letter", "handwritten"],
    "invoice": ["budget", "form", "budget", "form", "specification"],
    "budget": ["invoice", "form", "invoice", "presentation", "scientific_report"],
    "form": ["questionnaire", "invoice", "questionnaire", "budget", "file_folder"],
    "questionnaire": ["form", "form", "budget", "presentation", "scientific_report"],
    "scientific_publication": [
        "scientific_report",
        "specification",
        "scientific_report",
        "news_article",
    ],
    "scientific_report": [
        "scientific_publication",
        "specification",
        "scientific_publication",
        "presentation",
        "budget",
    ],
    "specification": [
        "scientific_report",
        "form",
        "scientific_publication",
        "scientific_report",
        "invoice",
    ],
    "news_article": ["advertisement", "letter", "scientific_publication", "presentation"],
    "advertisement": ["news_article", "presentation", "news_article"],
    "presentation": ["scientific_report", "budget", "advertisement", "memo"],
    "resume": ["letter", "form", "scientific_publication"],
    "file_folder": ["form", "memo", "letter", "scientific_report"],
    "handwritten": ["letter", "memo", "email", "form"],
}

# Share of class words that come from a sibling class instead (`class_word`).
LEAK = 0.6


def _inflect(stem: str, suffix: str) -> str:
    """Regular English inflection of `stem` with `suffix` ("s", "ed", "ing", "ly", "er")."""
    if suffix == "s":
        if stem.endswith(("s", "x", "ch", "sh")):
            return stem + "es"
        if stem.endswith("y") and stem[-2] not in "aeiou":
            return stem[:-1] + "ies"
        return stem + "s"
    if suffix in ("ed", "er"):
        if stem.endswith("e"):
            return stem + suffix[1:]
        if stem.endswith("y") and stem[-2] not in "aeiou":
            return stem[:-1] + "i" + suffix
        return stem + suffix
    if suffix == "ing":
        return (stem[:-1] if stem.endswith("e") and not stem.endswith("ee") else stem) + "ing"
    if suffix == "ly":
        if stem.endswith("le"):
            return stem[:-1] + "y"
        if stem.endswith("y"):
            return stem[:-1] + "ily"
        return stem + ("ally" if stem.endswith("ic") else "ly")
    raise ValueError(suffix)


@lru_cache(maxsize=1)
def shared_vocabulary() -> tuple[str, ...]:
    """The shared vocabulary, most frequent first (function words, then stems, then forms)."""
    words: list[str] = list(_FUNCTION)
    words += _NOUNS + _VERBS + _ADJECTIVES
    words += [_inflect(n, "s") for n in _NOUNS]
    words += [_inflect(v, s) for s in ("ed", "ing", "s") for v in _VERBS]
    words += [_inflect(a, "ly") for a in _ADJECTIVES]
    words += [_inflect(v, "er") for v in _VERBS[::2]]
    return tuple(dict.fromkeys(words))


@lru_cache(maxsize=1)
def _shared_cum_weights() -> tuple[float, ...]:
    """Zipf-like cumulative weights over `shared_vocabulary()`."""
    return tuple(itertools.accumulate(1.0 / (rank + 8) for rank in range(len(shared_vocabulary()))))


def shared_word(rng: random.Random) -> str:
    """One word of the shared vocabulary, Zipf-distributed."""
    weights = _shared_cum_weights()
    index = bisect.bisect(weights, rng.random() * weights[-1])
    return shared_vocabulary()[min(index, len(weights) - 1)]


def class_word(rng: random.Random, label: str, leak: float = LEAK) -> str:
    """A word of `label`'s vocabulary, or with probability `leak` of a confusable class's."""
    if rng.random() < leak:
        label = rng.choice(SIBLINGS[label])
    return rng.choice(CLASS_WORDS[label])


def words(rng: random.Random, n: int, label: str, class_share: float = 0.2) -> list[str]:
    """`n` words mixing class vocabulary (`class_share`) with the shared vocabulary."""
    out = []
    for _ in range(n):
        roll = rng.random()
        if roll < class_share:
            out.append(class_word(rng, label))
        elif roll < class_share + 0.04:
            out.append(number(rng))
        elif roll < class_share + 0.06:
            out.append(rng.choice(LAST_NAMES))
        else:
            out.append(shared_word(rng))
    return out


def sentence(rng: random.Random, label: str, class_share: float = 0.2) -> list[str]:
    """One sentence as a list of tokens: capitalised, with commas and a final stop."""
    tokens = words(rng, rng.randint(6, 18), label, class_share)
    tokens[0] = tokens[0][:1].upper() + tokens[0][1:]
    if len(tokens) > 8 and rng.random() < 0.5:
        cut = rng.randint(3, len(tokens) - 3)
        tokens[cut] += ","
    tokens[-1] += "." if rng.random() < 0.92 else rng.choice(["?", ":", ";"])
    return tokens


def paragraph(
    rng: random.Random, label: str, sentences: int, class_share: float = 0.2
) -> list[str]:
    """Tokens of a paragraph of `sentences` sentences."""
    return [t for _ in range(sentences) for t in sentence(rng, label, class_share)]


def title(rng: random.Random, label: str, n: int | None = None, share: float = 0.3) -> str:
    """A short capitalised title."""
    tokens = words(rng, n or rng.randint(2, 6), label, share)
    return " ".join(t.capitalize() if len(t) > 3 else t for t in tokens)


def person(rng: random.Random, initial: bool | None = None) -> str:
    """A person's name, sometimes with a middle initial or title."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    if initial or (initial is None and rng.random() < 0.3):
        return f"{first} {chr(rng.randint(65, 90))}. {last}"
    if rng.random() < 0.15:
        return f"{rng.choice(['Mr.', 'Ms.', 'Dr.', 'Mrs.'])} {first} {last}"
    return f"{first} {last}"


def company(rng: random.Random) -> str:
    """A fictitious company name."""
    return f"{rng.choice(_COMPANY_A)} {rng.choice(_COMPANY_B)} {rng.choice(_COMPANY_C)}"


def address(rng: random.Random) -> list[str]:
    """A postal address as lines."""
    city = rng.choice(CITIES)
    return [
        f"{rng.randint(1, 9999)} {rng.choice(STREETS)} {rng.choice(['Street', 'Avenue', 'Road', 'Blvd.'])}",
        f"{city}, {rng.choice(STATES)} {rng.randint(10000, 99999)}",
    ]


def date(rng: random.Random, style: int | None = None) -> str:
    """A date between 1950 and 2002 in one of several formats."""
    year, month, day = rng.randint(1950, 2002), rng.randint(1, 12), rng.randint(1, 28)
    style = rng.randint(0, 3) if style is None else style
    if style == 0:
        return f"{MONTHS[month - 1]} {day}, {year}"
    if style == 1:
        return f"{month:02d}/{day:02d}/{year % 100:02d}"
    if style == 2:
        return f"{day} {MONTHS[month - 1][:3]} {year}"
    return f"{year}-{month:02d}-{day:02d}"


def number(rng: random.Random) -> str:
    """A number token: integer, decimal, percentage or code."""
    kind = rng.random()
    if kind < 0.4:
        return str(rng.randint(1, 999))
    if kind < 0.6:
        return f"{rng.uniform(0, 100):.{rng.randint(1, 2)}f}"
    if kind < 0.75:
        return f"{rng.randint(1, 99)}%"
    return f"{rng.randint(100, 9999)}-{rng.randint(10, 99)}"


def amount(rng: random.Random, low: float = 1, high: float = 99_999, dollar: bool = True) -> str:
    """A money amount like `$12,345.67`."""
    value = f"{rng.uniform(low, high):,.2f}"
    return f"${value}" if dollar else value


def phone(rng: random.Random) -> str:
    """A US phone number."""
    return f"({rng.randint(200, 999)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}"


def email_address(rng: random.Random, name: str | None = None) -> str:
    """An e-mail address derived from a name."""
    name = name or person(rng, initial=False)
    parts = [p for p in name.replace(".", "").lower().split() if p not in ("mr", "ms", "dr", "mrs")]
    domain = rng.choice(
        ["atlastob.com", "summitleaf.com", "natbrands.com", "keystonelabs.com", "meridian.org"]
    )
    return f"{parts[0][0]}{parts[-1]}@{domain}"


class ArchiveWords:
    """Running text taken from one real archive document, in its own word order from a random
    start (wrapping round), so a generated layout carries real words and real OCR noise."""

    def __init__(self, text: str, rng: random.Random) -> None:
        self.words = text.split()
        if not self.words:
            raise ValueError("an archive document without words cannot fill a page")
        self.cursor = rng.randrange(len(self.words))

    def take(self, n: int) -> list[str]:
        """The document's next `n` words."""
        out = [self.words[(self.cursor + i) % len(self.words)] for i in range(n)]
        self.cursor = (self.cursor + n) % len(self.words)
        return out
