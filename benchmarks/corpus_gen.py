"""A seeded generator of realistic article-like documents, for corpus benchmarks and tests.

Document ``i`` of seed ``s`` is always the same text (its own ``random.Random``), so corpora
nest (the first 100 of a 1,000-document corpus are the 100-document corpus) and runs repeat.
Articles are news-like: a title, a dated lede, 15-30 sentences in paragraphs, sometimes a
section heading, footnote markers and a reader comment section.  Several beats (unrest,
policing, foreign funding, energy, elections) share vocabulary with the shipped article on
purpose: distractors that never share its vocabulary would make retrieval look too easy.
"""

from __future__ import annotations

import random
from pathlib import Path

CITIES = """Lisbon Tbilisi Nairobi Quito Bratislava Dhaka Accra Tallinn Valparaiso Izmir Lyon
Porto Kraków Gdańsk Cluj Varna Split Mombasa Arusha Medellín Cusco Rosario Tromsø Bergen Turku
Aarhus Ghent Utrecht Graz Salzburg Brno Plovdiv Kutaisi Batumi Yerevan Gyumri Samarkand Osh
Chiang Mai Da Nang Cebu Surabaya Penang Kandy Pokhara Multan Rajshahi Windhoek Lusaka Harare
Maputo Dakar Abidjan Kumasi Lagos Ibadan Asmara Djibouti Sfax Oran Fez Agadir Haifa Nicosia
Limassol Patras Thessaloniki Bari Palermo Cagliari Bilbao Zaragoza Málaga Coimbra Cork Galway
Dundee Swansea Leeds Bristol Halifax Regina Tucson Eugene Duluth Fresno Mobile""".split()
COUNTRIES = """Portugal Georgia Kenya Ecuador Slovakia Bangladesh Ghana Estonia Chile Turkey
France Poland Romania Bulgaria Croatia Tanzania Colombia Peru Argentina Norway Finland Denmark
Belgium Netherlands Austria Czechia Armenia Uzbekistan Kyrgyzstan Thailand Vietnam Philippines
Indonesia Malaysia Nepal Pakistan Namibia Zambia Zimbabwe Mozambique Senegal Nigeria Tunisia
Algeria Morocco Cyprus Greece Italy Spain Ireland Scotland Wales Canada Mongolia Moldova""".split()
FIRST = """Ana Boris Carla Dmitri Elena Farid Grace Hassan Ines Jonas Kaveh Lena Marco Nadia Oskar
Priya Rafael Sofia Tomas Umar Vera Wen Yusuf Zora Aylin Bruno Chiara Diego Esther Felix Greta
Hugo Irina Jamal Katya Luis Maya Nikolai Olga Pavel Rosa Samir Tara Viktor Will Ximena""".split()
LAST = """Almeida Berisha Costa Dimitrov Eriksen Fischer Garcia Haddad Ivanova Jansen Kowalski
Lindqvist Moreau Novak Okafor Petrov Quispe Rossi Santos Tanaka Usmanov Varga Weber Yilmaz
Zielinski Abiodun Bakker Carvalho Demir Esposito Ferreira Gonzalez Horvath Ionescu Jovanovic
Karimov Larsen Mendes Nielsen Ortiz Popescu Ramos Schmidt Torres Urbina Vasquez Wagner""".split()
MONTHS = """January February March April May June July August September October November
December""".split()

BEATS: dict[str, dict[str, list[str]]] = {
    "unrest": {
        "title": [
            "Protests Spread Across {country} After Fuel Price Rise",
            "Clashes in {city} as Demonstrators Defy Curfew",
            "{country} Declares State of Emergency Amid Unrest",
            "Night of Riots Leaves {city} Counting the Cost",
        ],
        "lines": [
            "Thousands of demonstrators gathered in the central square of {city} on {date}.",
            "Police said {n} officers were injured when protesters threw stones at a cordon.",
            "The interior ministry reported that {n2} people had been detained overnight.",
            "Several government buildings in {city} were damaged and two police cars set alight.",
            "Organisers insisted the march was peaceful and blamed provocateurs for the violence.",
            "The government announced a curfew from ten in the evening until six in the morning.",
            "Internet access was restricted in parts of the capital for {n} hours.",
            "Hospitals in {city} treated {n2} people for injuries, most of them minor.",
            "Opposition leader {person} called for a national strike and new elections.",
            "The president accused unnamed foreign groups of stirring up the crowds.",
            "Witnesses described tear gas drifting through the old town late into the night.",
            "Shops along the main avenue stayed shut as owners boarded up their windows.",
            "The protests began after the price of liquefied gas doubled at the start of {month}.",
            "A spokesperson for the security services said order had been restored by morning.",
            "Human rights groups demanded an independent inquiry into the use of force.",
        ],
    },
    "funding": {
        "title": [
            "Questions Over Foreign Grants to {country} Civil Society Groups",
            "New Law in {country} Targets Foreign-Funded NGOs",
            "{org} Defends Its Work in {country}",
        ],
        "lines": [
            "Parliament in {country} passed a bill requiring foreign-funded groups to register.",
            "The {org} said it had supported local media projects in {country} since {year}.",
            "Critics argue the grants amount to interference in the country's domestic politics.",
            "According to the justice ministry, {n2} non-governmental organisations operate there.",
            "Some estimates put the total foreign funding at more than ${n} million over a decade.",
            "Supporters of the law say it merely brings transparency to the sector.",
            "{person}, who runs a legal aid charity in {city}, said the rules would close it.",
            "The foundation's annual report lists grants for election monitoring and training.",
            "Diplomats in {city} feared that the bill could be used against journalists.",
            "The government has accused several groups of acting as agents of foreign powers.",
        ],
    },
    "energy": {
        "title": [
            "{country} Raises Gas Prices as Subsidies End",
            "Power Cuts Hit {city} for Third Day",
            "New Pipeline Deal Signed Between {country} and Neighbours",
        ],
        "lines": [
            "The energy ministry said the subsidy on liquefied gas would be phased out by {month}.",
            "Households in {city} faced rolling blackouts of up to {n} hours a day.",
            "The state oil company reported a profit of ${n} million for the year.",
            "Analysts at {org} expect prices to rise by {pct} per cent before winter.",
            "Drivers queued for hours at filling stations as supplies ran low.",
            "The pipeline will carry {n2} million cubic metres of gas a year once completed.",
            "{person}, the energy minister, promised compensation for low-income families.",
            "Coal still provides about {pct} per cent of the country's electricity.",
            "Environmental groups criticised the decision to expand drilling near the coast.",
            "Engineers blamed ageing transformers for the failure of the grid in the north.",
        ],
    },
    "election": {
        "title": [
            "{country} Goes to the Polls in Tight Race",
            "Opposition Claims Fraud After {country} Vote",
            "{person} Sworn In as President of {country}",
        ],
        "lines": [
            "Turnout reached {pct} per cent, according to the central election commission.",
            "{person} won {pct} per cent of the vote in the first round.",
            "International observers said the vote was competitive but marred by irregularities.",
            "The ruling party lost its majority in parliament for the first time since {year}.",
            "Supporters celebrated in the streets of {city} until the early hours.",
            "The election commission rejected {n} complaints filed by the opposition.",
            "A run-off between the two leading candidates is scheduled for {date}.",
            "Campaign spending rules were tightened after the scandal of the previous election.",
            "Polls had predicted a much closer result in the capital.",
            "The new government promised to fight corruption and reform the courts.",
        ],
    },
    "economy": {
        "title": [
            "{country} Central Bank Raises Interest Rates",
            "Inflation in {country} Hits {pct} Per Cent",
            "Exports Lift {country} Economy in Third Quarter",
        ],
        "lines": [
            "The central bank raised its main rate by {small} percentage points to {pct} per cent.",
            "Consumer prices rose {pct} per cent in {month} compared with a year earlier.",
            "Food and fuel accounted for most of the increase, the statistics office said.",
            "The national currency fell to a record low against the dollar.",
            "Economists at {org} cut their growth forecast to {small} per cent.",
            "Exports of copper and wheat reached ${n} million in the quarter.",
            "Unemployment fell slightly to {small} per cent, its lowest level since {year}.",
            "{person}, the finance minister, said the budget deficit would narrow next year.",
            "Small businesses in {city} complained that loans had become too expensive.",
            "The government agreed a ${n} million loan with an international lender.",
        ],
    },
    "weather": {
        "title": [
            "Floods Force Thousands From Their Homes in {city}",
            "Heatwave Breaks Records Across {country}",
            "Storm Leaves {city} Without Power",
        ],
        "lines": [
            "Heavy rain caused the river to burst its banks on {date}.",
            "Emergency services evacuated {n2} residents from low-lying districts of {city}.",
            "Temperatures reached {temp} degrees Celsius, the highest ever recorded in {month}.",
            "The storm brought down trees and power lines across the region.",
            "Farmers warned that the harvest would be badly affected.",
            "Schools in {city} were closed for {n} days as a precaution.",
            "The meteorological service issued its highest level of warning.",
            "Volunteers filled sandbags through the night to protect the old bridge.",
            "Insurance companies estimate the damage at ${n} million.",
            "{person}, the mayor of {city}, said the drainage system had been neglected for years.",
        ],
    },
    "health": {
        "title": [
            "New Hospital Opens in {city}",
            "{country} Launches Vaccination Drive",
            "Doctors in {city} Strike Over Pay",
        ],
        "lines": [
            "The hospital has {n2} beds and a new emergency department.",
            "Health officials aim to vaccinate {pct} per cent of children by the end of the year.",
            "Doctors walked out after talks with the health ministry broke down.",
            "Waiting times for routine operations have doubled since {year}.",
            "{person}, who chairs the medical association, said staff were exhausted.",
            "The clinic in {city} treats around {n} patients a day.",
            "A shortage of nurses has forced some wards to close at night.",
            "The ministry said it would recruit {n2} medical graduates next year.",
        ],
    },
    "transport": {
        "title": [
            "{city} Opens New Metro Line",
            "Rail Strike Halts Trains Across {country}",
            "Airport Expansion in {city} Approved",
        ],
        "lines": [
            "The new line links the airport with the city centre in {n} minutes.",
            "About {n2} passengers are expected to use the service each day.",
            "Rail workers are demanding a pay rise of {pct} per cent.",
            "The project cost ${n} million and ran two years behind schedule.",
            "Commuters in {city} faced long delays as buses replaced trains.",
            "{person}, the transport minister, urged the unions to return to talks.",
            "Residents near the runway have complained about noise for years.",
            "The city plans to ban diesel cars from the centre by {year}.",
        ],
    },
    "courts": {
        "title": [
            "Former Minister Jailed in {country} Corruption Case",
            "Court in {city} Overturns Protest Ban",
            "Journalist Acquitted in {country}",
        ],
        "lines": [
            "The court sentenced the former minister to {small} years in prison for bribery.",
            "Prosecutors said ${n} million had been moved through shell companies.",
            "Judges ruled that the ban on demonstrations in {city} was unconstitutional.",
            "The defence said it would appeal to the supreme court.",
            "{person} was arrested in {year} after publishing an investigation into police abuses.",
            "The trial was adjourned {n} times before a verdict was reached.",
            "Press freedom groups welcomed the acquittal but warned that pressure remained.",
            "The case has become a test of judicial independence in {country}.",
        ],
    },
    "technology": {
        "title": [
            "{city} Start-up Raises Funds for Battery Plant",
            "{country} Rolls Out Fast Broadband to Villages",
            "Cyber Attack Disrupts Government Websites in {country}",
        ],
        "lines": [
            "The company raised ${n} million from investors including {org}.",
            "The plant in {city} will employ {n2} people when it opens in {year}.",
            "Engineers laid {n2} kilometres of fibre-optic cable last year.",
            "Hackers took several ministry websites offline for {n} hours.",
            "The government blamed a group operating from abroad for the attack.",
            "{person}, the company's founder, said demand for storage was growing fast.",
            "Only {pct} per cent of rural households had a reliable connection in {year}.",
            "Officials said no personal data had been stolen.",
        ],
    },
}
ORGS = [
    "World Bank",
    "International Monetary Fund",
    "Open Data Institute",
    "Civic Futures Foundation",
    "European Investment Bank",
    "Regional Development Fund",
    "Baltic Policy Centre",
    "Horizon Trust",
    "Institute for Public Affairs",
    "Global Media Alliance",
    "Northern Research Group",
    "Free Press Fund",
]
GENERIC_LINES = [
    "Officials did not respond to requests for comment.",
    "The announcement came a day after a meeting of the cabinet in {city}.",
    "Local newspapers described the mood in {city} as tense but calm.",
    "The issue has divided public opinion in {country} for months.",
    "A government spokesperson said more details would be published next week.",
    "Similar measures were introduced in neighbouring countries last year.",
    "The decision was welcomed by business groups but criticised by trade unions.",
    "{person}, a professor of politics in {city}, said the move was long overdue.",
    "It is not the first time the authorities in {country} have faced such criticism.",
    "Figures published on {date} suggest the problem is getting worse.",
    "Many residents said they had heard about the plans only on social media.",
    "The European Union said it was following developments closely.",
    "A poll published in {month} found that {pct} per cent of people supported the plan.",
    "The opposition said the government had ignored repeated warnings.",
    "Talks are expected to resume after the holidays.",
    "The mayor's office said it would review the situation at the end of the month.",
    "{person} said the real costs would only become clear in a few years.",
    "There are reports that similar protests took place in smaller towns.",
    "Some observers believe the figures have been understated.",
    "The ministry declined to say how many people had been affected.",
]
HEADINGS = ["Background", "What happens next", "Reaction", "A divided country", "The numbers"]
QUOTE_LINES = [
    "“We will not accept this,” said {person}, a resident of {city}.",
    "“The situation is under control,” {person} told reporters.",
    "“Nobody listened to us for years,” said {person}.",
    "“This is a turning point for {country},” said {person}, an analyst at {org}.",
]
COMMENT_LINES = [
    "Excellent reporting, thank you.",
    "This is only half the story; the real causes go back decades.",
    "I live in {city} and it was much worse than described here.",
    "Who is paying for all of this?",
    "Good article but the figures seem too low to me.",
]


def _fill(template: str, rng: random.Random, city: str, country: str) -> str:
    return template.format(
        city=city,
        country=country,
        person=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        org=rng.choice(ORGS),
        n=rng.randint(2, 95),
        n2=rng.choice([120, 250, 380, 600, 1200, 2500, 4000, 7500, 12000, 40000]),
        pct=rng.randint(3, 78),
        small=rng.choice(["0.5", "1.5", "2", "3.2", "4", "6"]),
        year=rng.randint(1995, 2021),
        month=rng.choice(MONTHS),
        date=f"{rng.randint(1, 28)} {rng.choice(MONTHS)}",
        temp=rng.randint(36, 47),
    )


def generate_article(i: int, seed: int = 7) -> str:
    """The ``i``-th synthetic article of ``seed``: deterministic, news-like plain text."""
    rng = random.Random(f"{seed}-{i}")
    city, country = rng.choice(CITIES), rng.choice(COUNTRIES)
    beat = rng.choice(list(BEATS))
    other = rng.choice([b for b in BEATS if b != beat])
    lines = BEATS[beat]["lines"]
    pool = rng.sample(lines, len(lines))
    pool += rng.sample(BEATS[other]["lines"], 3) + rng.sample(GENERIC_LINES, 8)
    quotes = rng.sample(QUOTE_LINES, 2)
    n_sentences = min(rng.randint(15, 30), len(pool))
    sentences: list[str] = []
    # the beat's own lines first (the lede), then the rest shuffled, quotes sprinkled in
    head, rest = pool[:5], pool[5:n_sentences]
    rng.shuffle(rest)
    for template in head + rest:
        if quotes and rng.random() < 0.1:
            sentences.append(_fill(quotes.pop(), rng, city, country))
        sentences.append(_fill(template, rng, city, country))
    if rng.random() < 0.15:  # some articles cite numbered sources
        for k, j in enumerate(sorted(rng.sample(range(len(sentences)), 3)), start=1):
            sentences[j] = sentences[j] + f"[{k}]"
    title = _fill(rng.choice(BEATS[beat]["title"]), rng, city, country)
    date = f"{rng.randint(1, 28)} {rng.choice(MONTHS)} {rng.randint(2015, 2023)}"
    paragraphs: list[str] = []
    pos = 0
    while pos < len(sentences):
        size = rng.randint(2, 4)
        paragraphs.append(" ".join(sentences[pos : pos + size]))
        pos += size
    paragraphs[0] = f"{city.upper()}, {date} — {paragraphs[0]}"
    if len(paragraphs) > 3 and rng.random() < 0.3:
        paragraphs.insert(rng.randint(2, len(paragraphs) - 1), rng.choice(HEADINGS))
    parts = [title, *paragraphs]
    if rng.random() < 0.1:
        comments = rng.sample(COMMENT_LINES, rng.randint(1, 2))
        parts.append(f"{len(comments)} thoughts on “{title}”")
        parts.extend(_fill(c, rng, city, country) for c in comments)
    return "\n\n".join(parts) + "\n"


def write_corpus(folder: Path, count: int, seed: int = 7, start: int = 0) -> list[Path]:
    """Write articles ``start .. start+count-1`` as ``article-00042.txt``; existing files
    with the same text are left alone (their mtime too), so re-runs do no work."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        path = folder / f"article-{i:05d}.txt"
        text = generate_article(i, seed)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def identifies(question: str, own_terms: set[str], other_terms: set[str]) -> bool:
    """Does the question name something (a capitalised name or acronym past its first word)
    that ``own_terms`` has and no other document of the corpus has?  Pass the terms of the
    passages that answer it as ``own_terms`` to ask: does it single out its answer's
    document by a name that answer contains?  A question that names nothing of its own
    ("How many officers were hurt?") is about any article that says it; in a corpus,
    another article's passages answering it are not retrieval errors."""
    import re

    from index.text import content_terms

    names = re.findall(r"(?<!^)(?<![.?!] )\b(?:[A-Z][a-z][\w'-]*|[A-Z]{2,})", question)
    stems = {t for name in names for t in content_terms(name)}
    return any(t in own_terms and t not in other_terms for t in stems)


def corpus_terms(texts: list[str]) -> set[str]:
    """Every stemmed content term of these texts."""
    from index.text import content_terms

    out: set[str] = set()
    for text in texts:
        out.update(content_terms(text))
    return out
