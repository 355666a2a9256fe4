"""Word lists shared by the generators: people, places, email domains.

Non-ASCII spellings are deliberate: real APIs hand out `Zoë`, `Łukasz` and `김민준`, and the
pipelines must store them unchanged.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

FIRST_NAMES: tuple[str, ...] = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen",
    "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty", "Mark", "Sandra", "Steven", "Ashley",
    "Andrew", "Emily", "Joshua", "Michelle", "Kevin", "Amanda", "Brian", "Melissa", "George", "Stephanie",
    "José", "María", "Zoë", "Chloé", "François", "Renée", "Björn", "Søren", "Łukasz", "Małgorzata",
    "Jürgen", "Ömer", "Şebnem", "Ígor", "Ana", "João", "Håkon", "Siobhán", "Niamh", "Aoife",
    "Priya", "Arjun", "Ananya", "Rahul", "Wei", "Mei", "Hiroshi", "Yuki", "Min-jun", "Seo-yeon",
    "Olamide", "Chiamaka", "Kwame", "Amara", "Fatima", "Omar", "Layla", "Youssef", "Dmitri", "Anastasia",
    "民", "秀英", "민준", "서연", "Ngọc", "Thảo", "Đức", "Ibrahim", "Noor", "Élodie",
)

LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Müller", "Schröder", "Weiß", "Dvořák", "Nowak", "Wiśniewski", "Kowalczyk", "Østergaard", "Åberg", "Lindqvist",
    "O'Brien", "O'Connor", "MacLeod", "Ní Bhriain", "Dubois", "Lefèvre", "Girard", "Côté", "Gagné", "Ibáñez",
    "Núñez", "Peña", "Gonçalves", "Conceição", "Yılmaz", "Öztürk", "Kaya", "Petrović", "Jovanović", "Horváth",
    "Nguyễn", "Trần", "Phạm", "Kim", "Park", "Choi", "Tanaka", "Suzuki", "Sato", "Chen",
    "Wang", "Zhang", "Patel", "Sharma", "Iyer", "Okafor", "Adeyemi", "Mensah", "Haddad", "Khalil",
    "王", "李", "김", "박", "Van der Berg", "De Vries", "Rossi", "Bianchi", "Esposito", "Ivanov",
)

CITIES: tuple[tuple[str, str], ...] = (
    ("New York", "NY"), ("Los Angeles", "CA"), ("Chicago", "IL"), ("Houston", "TX"), ("Phoenix", "AZ"),
    ("Philadelphia", "PA"), ("San Antonio", "TX"), ("San Diego", "CA"), ("Dallas", "TX"), ("Austin", "TX"),
    ("Jacksonville", "FL"), ("Fort Worth", "TX"), ("Columbus", "OH"), ("Charlotte", "NC"), ("Indianapolis", "IN"),
    ("San Francisco", "CA"), ("Seattle", "WA"), ("Denver", "CO"), ("Nashville", "TN"), ("Oklahoma City", "OK"),
    ("El Paso", "TX"), ("Boston", "MA"), ("Portland", "OR"), ("Las Vegas", "NV"), ("Detroit", "MI"),
    ("Memphis", "TN"), ("Louisville", "KY"), ("Baltimore", "MD"), ("Milwaukee", "WI"), ("Albuquerque", "NM"),
    ("Tucson", "AZ"), ("Fresno", "CA"), ("Sacramento", "CA"), ("Kansas City", "MO"), ("Atlanta", "GA"),
    ("Omaha", "NE"), ("Raleigh", "NC"), ("Miami", "FL"), ("Minneapolis", "MN"), ("Tulsa", "OK"),
    ("Cleveland", "OH"), ("Tampa", "FL"), ("New Orleans", "LA"), ("Honolulu", "HI"), ("Anchorage", "AK"),
    ("Boise", "ID"), ("Salt Lake City", "UT"), ("Des Moines", "IA"), ("Little Rock", "AR"), ("Burlington", "VT"),
    ("Española", "NM"), ("Cañon City", "CO"), ("Coeur d'Alene", "ID"), ("Santa Fe", "NM"), ("St. Louis", "MO"),
)

EMAIL_DOMAINS: tuple[str, ...] = (
    "example.com", "example.org", "example.net", "mail.example.com", "acme-corp.example",
    "northwind.example", "contoso.example", "globex.example", "initech.example", "umbrella.example",
)


@lru_cache(maxsize=4096)
def ascii_slug(text: str, separator: str = ".") -> str:
    """`Łukasz Wiśniewski` -> `lukasz.wisniewski`; scripts with no Latin form give `user`."""
    folded = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("Ł", "L").replace("ø", "o")
                                   .replace("Ø", "O").replace("đ", "d").replace("Đ", "D").replace("ß", "ss"))
    words = ["".join(c for c in word if c.isascii() and c.isalnum()).lower() for word in folded.split()]
    return separator.join(w for w in words if w) or "user"


def email_for(first: str, last: str, number: int, domain: str) -> str:
    return f"{ascii_slug(first)}.{ascii_slug(last, '')}{number}@{domain}"
