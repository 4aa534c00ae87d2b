"""Demo customers: French and Italian names, and real delivery addresses near each store."""

import unicodedata
from dataclasses import dataclass
from decimal import Decimal

FR_FIRST = [
    "Camille",
    "Louise",
    "Hugo",
    "Jules",
    "Alice",
    "Lucas",
    "Chloé",
    "Nathan",
    "Sarah",
    "Arthur",
    "Manon",
    "Théo",
    "Juliette",
    "Paul",
    "Zoé",
    "Gabriel",
    "Clara",
    "Maxime",
    "Anaïs",
    "Romain",
    "Élodie",
    "Karim",
    "Mélanie",
    "Yanis",
    "Pauline",
    "Quentin",
    "Aurélie",
    "Sébastien",
    "Nadia",
    "Vincent",
]
FR_LAST = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Mercier",
    "Blanc",
    "Guérin",
    "Boyer",
    "Chevalier",
    "François",
    "Lambert",
    "Faure",
    "Rousseau",
    "Haddad",
]
IT_FIRST = [
    "Giulia",
    "Alessandro",
    "Francesca",
    "Matteo",
    "Chiara",
    "Lorenzo",
    "Sara",
    "Andrea",
    "Martina",
    "Davide",
    "Elena",
    "Federico",
    "Valentina",
    "Simone",
    "Alessia",
    "Riccardo",
    "Beatrice",
    "Tommaso",
    "Giorgia",
    "Stefano",
]
IT_LAST = [
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
    "De Luca",
    "Mancini",
    "Costa",
    "Giordano",
    "Rizzo",
    "Lombardi",
    "Moretti",
]
EN_NAMES = ["Emily Carter", "James O'Neill", "Hannah Schmidt", "Lukas Becker"]


@dataclass(frozen=True)
class Address:
    line1: str
    postcode: str
    city: str
    country: str
    latitude: str
    longitude: str

    def ship_to(self) -> dict:
        return {
            "line1": self.line1,
            "postcode": self.postcode,
            "city": self.city,
            "country": self.country,
            "latitude": Decimal(self.latitude),
            "longitude": Decimal(self.longitude),
        }


A = Address
# Delivery addresses grouped by the store that would naturally serve them.
# fmt: off
ADDRESSES: dict[str, list[Address]] = {
    "PAR01": [
        A("18 Rue des Martyrs", "75009", "Paris", "FR", "48.878900", "2.339700"),
        A("7 Rue Oberkampf", "75011", "Paris", "FR", "48.864700", "2.369300"),
        A("42 Avenue de Saint-Ouen", "75018", "Paris", "FR", "48.891200", "2.326600"),
        A("3 Rue Mouffetard", "75005", "Paris", "FR", "48.842900", "2.349700"),
        A("25 Rue du Commerce", "75015", "Paris", "FR", "48.846500", "2.296500"),
        A("64 Boulevard Jean Jaurès", "92100", "Boulogne-Billancourt", "FR", "48.839900", "2.239800"),
        A("12 Rue de la Paroisse", "78000", "Versailles", "FR", "48.806500", "2.131400"),
        A("9 Rue de la République", "93100", "Montreuil", "FR", "48.860900", "2.441300"),
    ],
    "LYO01": [
        A("14 Rue Mercière", "69002", "Lyon", "FR", "45.762600", "4.832300"),
        A("87 Cours Lafayette", "69006", "Lyon", "FR", "45.763700", "4.852400"),
        A("5 Rue Francis de Pressensé", "69100", "Villeurbanne", "FR", "45.768200", "4.880100"),
    ],
    "MRS01": [
        A("21 Rue Paradis", "13001", "Marseille", "FR", "43.292000", "5.377300"),
        A("102 Boulevard Baille", "13005", "Marseille", "FR", "43.288600", "5.392100"),
        A("8 Cours Mirabeau", "13100", "Aix-en-Provence", "FR", "43.527200", "5.447200"),
    ],
    "LIL01": [
        A("16 Rue de Béthune", "59800", "Lille", "FR", "50.634000", "3.062100"),
        A("30 Grande Rue", "59100", "Roubaix", "FR", "50.690800", "3.181500"),
    ],
    "BDX01": [
        A("11 Rue Notre-Dame", "33000", "Bordeaux", "FR", "44.852200", "-0.569300"),
        A("54 Cours de l'Argonne", "33000", "Bordeaux", "FR", "44.827400", "-0.572900"),
        A("6 Rue Castéja", "33200", "Bordeaux", "FR", "44.846700", "-0.600300"),
    ],
    "NTE01": [
        A("19 Rue Kervégan", "44000", "Nantes", "FR", "47.211700", "-1.555900"),
        A("4 Rue de la Soif", "35000", "Rennes", "FR", "48.113700", "-1.681100"),
    ],
    "MIL01": [
        A("Via Paolo Sarpi 12", "20154", "Milano", "IT", "45.480200", "9.177900"),
        A("Corso di Porta Ticinese 58", "20123", "Milano", "IT", "45.455600", "9.181000"),
        A("Via Padova 35", "20127", "Milano", "IT", "45.496300", "9.223100"),
        A("Via Carlo Alberto 20", "20900", "Monza", "IT", "45.584600", "9.273900"),
        A("Via Borgo Vico 9", "22100", "Como", "IT", "45.812700", "9.075500"),
    ],
    "ROM01": [
        A("Via della Lungaretta 40", "00153", "Roma", "IT", "41.889000", "12.470400"),
        A("Viale Marconi 110", "00146", "Roma", "IT", "41.858000", "12.468500"),
        A("Via Tuscolana 150", "00182", "Roma", "IT", "41.880200", "12.521800"),
    ],
    "TRN01": [
        A("Via Po 17", "10124", "Torino", "IT", "45.068600", "7.690200"),
        A("Corso Francia 98", "10143", "Torino", "IT", "45.076500", "7.650300"),
    ],
    "FLR01": [
        A("Via Santo Spirito 22", "50125", "Firenze", "IT", "43.768000", "11.248400"),
        A("Via dell'Indipendenza 14", "40121", "Bologna", "IT", "44.496200", "11.344600"),
    ],
    # Customers the warehouse serves: anywhere, mostly where there is no store
    "WH01": [
        A("15 Rue du Faubourg de Pierre", "67000", "Strasbourg", "FR", "48.588800", "7.744300"),
        A("28 Rue d'Alsace-Lorraine", "31000", "Toulouse", "FR", "43.603500", "1.446300"),
        A("10 Rue de France", "06000", "Nice", "FR", "43.697500", "7.262200"),
        A("33 Rue de Bourgogne", "45000", "Orléans", "FR", "47.900900", "1.911400"),
        A("2 Rue Nationale", "37000", "Tours", "FR", "47.394100", "0.687800"),
        A("47 Rue de Siam", "29200", "Brest", "FR", "48.387900", "-4.487700"),
        A("5 Place de la Comédie", "34000", "Montpellier", "FR", "43.608500", "3.879700"),
        A("20 Rue des Augustins", "63000", "Clermont-Ferrand", "FR", "45.778600", "3.084800"),
        A("13 Rue de la Liberté", "21000", "Dijon", "FR", "47.322400", "5.038500"),
        A("Via Toledo 256", "80132", "Napoli", "IT", "40.839400", "14.248900"),
        A("Via XX Settembre 41", "16121", "Genova", "IT", "44.406200", "8.939600"),
    ],
}
# fmt: on


def _ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isalnum() and c.isascii()).lower()


@dataclass(frozen=True)
class Customer:
    name: str
    email: str
    phone: str
    language: str


def make_customer(rng, country: str) -> Customer:
    """A plausible customer for a country (now and then an English-speaking visitor)."""
    if rng.random() < 0.05:
        name, language = rng.choice(EN_NAMES), "en"
    elif country == "IT":
        name, language = f"{rng.choice(IT_FIRST)} {rng.choice(IT_LAST)}", "it"
    else:
        name, language = f"{rng.choice(FR_FIRST)} {rng.choice(FR_LAST)}", "fr"
    first, last = name.split(" ", 1)
    email = f"{_ascii(first)}.{_ascii(last)}{rng.randint(1, 99)}@{rng.choice(['example.com', 'example.net'])}"
    if country == "IT":
        phone = f"+39 3{rng.randint(20, 49)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
    else:
        pairs = " ".join(f"{rng.randint(0, 99):02d}" for _ in range(4))
        phone = f"+33 {rng.choice('67')} {pairs}"
    return Customer(name, email, phone, language)
