"""Product families of the demo catalogue: one row per model, expanded into colours and sizes.

Italian-made lines carry their Italian name and an Italian GS1 prefix.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    code: str
    category: str
    aisle: str
    name: str
    colours: tuple[str, ...]
    sizes: tuple[str, ...]
    price: str
    weight: int  # grams, smallest size
    dimensions: tuple[int, int, int]  # folded or boxed, millimetres
    origin: str = "FR"
    stock_range: tuple[int, int] = (2, 8)


TOPS = ("XS", "S", "M", "L", "XL")
ADULT = ("S", "M", "L", "XL")
SMALL = ("XS", "S", "M", "L")
SML = ("S", "M", "L")
TROUSERS = ("38", "40", "42", "44")

V, C, B, M, S, A = "Vêtements", "Chaussures", "Beauté", "Maison", "Sport", "Accessoires"

# fmt: off
FAMILIES: list[Family] = [
    # Clothing: aisle A (tops), aisle B (bottoms, dresses, outerwear)
    Family("TSH", V, "A", "T-shirt coton bio", ("blanc", "noir", "bleu marine", "sable"), TOPS,
           "19.90", 160, (300, 220, 20)),
    Family("POL", V, "A", "Polo piqué coton", ("marine", "blanc", "vert bouteille"), ADULT,
           "39.00", 230, (300, 230, 30)),
    Family("CHE", V, "A", "Chemise en lin", ("blanc", "bleu ciel", "kaki"), ADULT, "59.00", 220, (320, 240, 30)),
    Family("CHS", V, "A", "Chemisier en soie", ("ivoire", "noir"), SMALL, "89.00", 140, (300, 230, 20)),
    Family("PUL", V, "A", "Pull col rond mérinos", ("gris chiné", "camel", "vert sapin"), ADULT,
           "79.00", 320, (320, 250, 40)),
    Family("CAR", V, "A", "Cardigan in cashmere", ("avena", "nero"), SML, "189.00", 360, (320, 250, 45),
           origin="IT", stock_range=(1, 4)),
    Family("SWE", V, "A", "Sweat à capuche molleton", ("gris chiné", "écru", "bordeaux"), ADULT,
           "55.00", 520, (340, 270, 60)),
    Family("JEA", V, "B", "Jean droit coupe 1990", ("brut", "délavé clair"), ("36", "38", "40", "42", "44"),
           "89.00", 650, (350, 280, 50)),
    Family("PAN", V, "B", "Pantalon chino", ("beige", "marine", "olive"), TROUSERS, "65.00", 480, (350, 280, 40)),
    Family("JUP", V, "B", "Jupe plissée midi", ("noir", "vert d'eau"), ("34", "36", "38", "40"),
           "69.00", 300, (350, 260, 30)),
    Family("ROB", V, "B", "Robe portefeuille viscose", ("terracotta", "imprimé fleuri"), SMALL,
           "95.00", 310, (350, 260, 30)),
    Family("VES", V, "B", "Veste en jean", ("délavé moyen",), ADULT, "99.00", 780, (380, 300, 60)),
    Family("TRE", V, "B", "Trench-coat coton", ("beige", "marine"), SML, "169.00", 1100, (400, 320, 80),
           stock_range=(1, 4)),
    # Shoes: aisle C
    Family("BSK", C, "C", "Baskets cuir", ("blanc", "blanc et vert"), ("37", "38", "39", "40", "41", "42", "43", "44"),
           "119.00", 900, (330, 210, 120), stock_range=(1, 4)),
    Family("MOC", C, "C", "Mocassino in pelle Firenze", ("cuoio", "testa di moro"),
           ("39", "40", "41", "42", "43", "44"), "159.00", 820, (320, 200, 110), origin="IT", stock_range=(1, 3)),
    Family("BOT", C, "C", "Bottines chelsea daim", ("taupe", "noir"), ("36", "37", "38", "39", "40", "41"),
           "139.00", 950, (320, 210, 130), stock_range=(1, 3)),
    Family("ESP", C, "C", "Espadrilles toile", ("marine", "écru"), ("36", "37", "38", "39", "40", "41", "42", "43"),
           "35.00", 420, (290, 180, 100), stock_range=(1, 5)),
    Family("BAL", C, "C", "Ballerines cuir", ("noir", "rouge"), ("36", "37", "38", "39", "40"),
           "95.00", 450, (280, 170, 90), stock_range=(1, 3)),
    Family("SAN", C, "C", "Sandales cuir tressé", ("camel",), ("36", "37", "38", "39", "40", "41"),
           "79.00", 500, (290, 180, 90), stock_range=(1, 3)),
    # Beauty: aisle D
    Family("CRE", B, "D", "Crème hydratante visage 50 ml", ("peau normale", "peau sèche", "peau sensible"), (),
           "32.00", 140, (65, 65, 70), stock_range=(4, 14)),
    Family("SER", B, "D", "Sérum visage 30 ml", ("vitamine C", "acide hyaluronique", "rétinol"), (),
           "42.00", 110, (40, 40, 120), stock_range=(3, 10)),
    Family("EDP", B, "D", "Eau de parfum", ("Fleur d'oranger", "Figue de Provence", "Bergamotto di Calabria",
           "Ambre et santal"), ("50 ml", "100 ml"), "78.00", 260, (70, 50, 140), stock_range=(2, 8)),
    Family("RAL", B, "D", "Rouge à lèvres satiné", ("01 Rouge Paris", "02 Rose ancien", "03 Corail", "04 Nude",
           "05 Framboise", "06 Bordeaux"), (), "26.00", 30, (25, 25, 85), stock_range=(3, 12)),
    Family("MAS", B, "D", "Mascara volume", ("noir", "brun"), (), "24.00", 35, (25, 25, 140), stock_range=(4, 12)),
    Family("VER", B, "D", "Vernis à ongles 10 ml", ("rouge cerise", "rose thé", "nude", "corail", "bleu nuit",
           "vert olive", "lilas", "transparent"), (), "12.00", 45, (30, 30, 70), stock_range=(3, 12)),
    Family("BAU", B, "D", "Baume à lèvres 15 ml", ("nature", "rosé"), (), "9.50", 25, (25, 25, 80),
           stock_range=(5, 20)),
    Family("SAV", B, "D", "Savon de Marseille 200 g", ("olive", "lavande", "verveine", "rose"), (), "6.90", 210,
           (80, 60, 40), stock_range=(6, 20)),
    Family("SHA", B, "D", "Shampooing solide 80 g", ("cheveux secs", "cheveux normaux", "cheveux gras"), (),
           "11.50", 95, (70, 70, 35), stock_range=(4, 15)),
    Family("GEL", B, "D", "Gel douche 250 ml", ("fleur d'oranger", "figue", "thé vert", "agrumes"), (), "9.90",
           290, (60, 40, 190), stock_range=(5, 18)),
    Family("HUI", B, "D", "Huile sèche corps et cheveux 100 ml", ("originale",), (), "29.00", 230, (45, 45, 150),
           stock_range=(3, 10)),
    Family("CRM", B, "D", "Crème mains 75 ml", ("karité", "fleur de cerisier"), (), "12.00", 95, (50, 30, 140),
           stock_range=(5, 16)),
    Family("SOL", B, "D", "Crème solaire SPF 50", ("visage 50 ml", "corps 200 ml"), (), "21.00", 120,
           (50, 35, 150), stock_range=(3, 12)),
    # Home: aisle E (table and kitchen), aisle F (bed, bath, decoration)
    Family("MUG", M, "E", "Mug grès 35 cl", ("sable", "bleu nuit", "vert céladon"), (), "14.00", 380,
           (120, 90, 100), stock_range=(4, 12)),
    Family("ASS", M, "E", "Assiette plate grès Ø 27 cm", ("sable", "bleu nuit"), (), "18.00", 720,
           (270, 270, 30), stock_range=(6, 18)),
    Family("BOL", M, "E", "Bol grès 60 cl", ("sable", "bleu nuit", "vert céladon"), (), "15.00", 420,
           (150, 150, 75), stock_range=(4, 12)),
    Family("MOK", M, "E", "Moka in alluminio 6 tazze", ("argento",), (), "39.00", 620, (160, 110, 230),
           origin="IT", stock_range=(2, 6)),
    Family("TOR", M, "E", "Torchons lin (lot de 2)", ("rayé bleu", "carreaux rouges"), (), "19.00", 180,
           (250, 180, 20), stock_range=(3, 10)),
    Family("NAP", M, "E", "Nappe lin lavé 160×250", ("naturel", "blanc"), (), "79.00", 900, (300, 250, 50),
           stock_range=(1, 4)),
    Family("BGI", M, "F", "Bougie parfumée 180 g", ("figue", "ambre", "feu de bois", "fleur de coton", "thé vert",
           "limone di Sicilia"), (), "29.00", 420, (90, 90, 100), stock_range=(4, 14)),
    Family("DIF", M, "F", "Diffuseur de parfum 200 ml", ("figue", "ambre", "fleur de coton"), (), "39.00",
           480, (90, 90, 250), stock_range=(2, 8)),
    Family("PLA", M, "F", "Plaid laine 130×170", ("gris", "moutarde", "terracotta"), (), "89.00", 1100,
           (400, 300, 90), stock_range=(1, 4)),
    Family("COU", M, "F", "Housse de coussin lin 45×45", ("naturel", "blanc", "rouille", "vert sauge"), (),
           "29.00", 200, (300, 250, 20), stock_range=(2, 8)),
    Family("HCO", M, "F", "Housse de couette lin lavé", ("blanc", "naturel", "gris"),
           ("140×200", "240×220", "260×240"), "159.00", 1500, (400, 320, 90), stock_range=(1, 3)),
    Family("DRP", M, "F", "Drap housse percale", ("blanc",), ("90×190", "140×190", "160×200"), "45.00", 700,
           (350, 280, 60), stock_range=(2, 6)),
    Family("SRV", M, "F", "Serviette de bain coton bio 70×140", ("blanc", "sable", "bleu"), (), "25.00", 550,
           (300, 250, 60), stock_range=(3, 10)),
    Family("VAS", M, "F", "Vase verre soufflé", ("ambre", "fumé"), (), "49.00", 1200, (180, 180, 280),
           stock_range=(1, 4)),
    Family("CAD", M, "F", "Cadre photo chêne", ("13×18", "20×30"), (), "24.00", 450, (250, 190, 30),
           stock_range=(2, 8)),
    # Sport: aisle G
    Family("LEG", S, "G", "Legging de sport gainant", ("noir", "bleu pétrole"), SMALL, "49.00", 230,
           (280, 200, 25)),
    Family("BRA", S, "G", "Brassière maintien moyen", ("noir", "rose poudré"), SMALL, "35.00", 120,
           (220, 180, 30)),
    Family("TRS", S, "G", "T-shirt technique respirant", ("noir", "blanc", "corail"), ADULT, "29.00", 130,
           (280, 200, 20)),
    Family("SHR", S, "G", "Short de running", ("noir", "marine"), ADULT, "32.00", 140, (250, 200, 20)),
    Family("VTS", S, "G", "Veste coupe-vent déperlante", ("noir", "jaune"), ADULT, "85.00", 280, (300, 240, 40)),
    Family("CHT", S, "G", "Chaussettes de running (lot de 3)", ("blanc",), ("35-38", "39-42", "43-46"), "15.00",
           120, (200, 100, 30), stock_range=(3, 12)),
    Family("YOG", S, "G", "Tapis de yoga 4 mm", ("vert olive", "lilas", "anthracite"), (), "45.00", 1400,
           (620, 130, 130), stock_range=(1, 5)),
    Family("GOU", S, "G", "Gourde inox isotherme 750 ml", ("blanc", "noir", "vert"), (), "29.00", 390,
           (80, 80, 270), stock_range=(3, 10)),
    Family("HAL", S, "G", "Haltères néoprène (paire)", ("1 kg", "2 kg", "3 kg"), (), "19.00", 2000,
           (200, 150, 80), stock_range=(1, 5)),
    Family("ELA", S, "G", "Élastiques de fitness (lot de 3)", ("trois résistances",), (), "19.00", 150,
           (180, 120, 40), stock_range=(3, 10)),
    Family("SDS", S, "G", "Sac de sport 35 L", ("noir", "kaki"), (), "59.00", 800, (500, 280, 80),
           stock_range=(1, 4)),
    # Accessories: aisle H
    Family("CAB", A, "H", "Borsa shopper in pelle", ("cuoio", "nero", "tortora"), (), "229.00", 900,
           (420, 350, 120), origin="IT", stock_range=(1, 3)),
    Family("POR", A, "H", "Portafoglio in pelle", ("nero", "cuoio"), (), "89.00", 150, (120, 100, 25),
           origin="IT", stock_range=(1, 5)),
    Family("FOU", A, "H", "Foulard in seta di Como", ("Riviera", "Giardino"), (), "95.00", 60, (200, 150, 15),
           origin="IT", stock_range=(1, 5)),
    Family("ECH", A, "H", "Écharpe laine et cachemire", ("gris", "camel", "bordeaux", "marine"), (), "69.00",
           220, (250, 200, 40), stock_range=(2, 6)),
    Family("CEI", A, "H", "Ceinture cuir", ("noir", "marron"), ("85", "90", "95", "100", "105"), "49.00", 180,
           (300, 100, 40), stock_range=(1, 4)),
    Family("LUN", A, "H", "Lunettes de soleil", ("Riviera écaille", "Riviera noir", "Capri écaille", "Capri noir"),
           (), "119.00", 90, (160, 60, 50), stock_range=(1, 4)),
    Family("BON", A, "H", "Bonnet côtelé", ("écru", "noir", "rouille"), (), "29.00", 90, (220, 200, 20),
           stock_range=(2, 8)),
    Family("CAS", A, "H", "Casquette coton", ("marine", "beige"), (), "25.00", 90, (270, 190, 120),
           stock_range=(2, 8)),
    Family("GAN", A, "H", "Gants cuir doublés", ("noir",), SML, "59.00", 120, (250, 120, 30), stock_range=(1, 4)),
    Family("MON", A, "H", "Montre acier bracelet cuir", ("cadran blanc", "cadran bleu"), (), "149.00", 180,
           (120, 100, 80), stock_range=(1, 3)),
    Family("PAP", A, "H", "Parapluie pliant", ("noir", "rayé marine"), (), "35.00", 350, (300, 60, 60),
           stock_range=(2, 8)),
    Family("BOU", A, "H", "Boucles d'oreilles créoles dorées", ("dorées",), (), "45.00", 15, (60, 60, 20),
           stock_range=(1, 5)),
    Family("COL", A, "H", "Collier chaîne dorée", ("dorée",), (), "55.00", 20, (80, 60, 20), stock_range=(1, 5)),
    Family("TOT", A, "H", "Tote bag toile Maison Lumière", ("naturel",), (), "15.00", 180, (380, 350, 10),
           stock_range=(5, 20)),
    Family("TRO", A, "H", "Trousse de toilette", ("noir", "kaki"), (), "35.00", 200, (250, 140, 110),
           stock_range=(2, 6)),
]
# fmt: on
