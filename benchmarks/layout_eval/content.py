"""What the layout-eval pages say: parties, items, page specifications and the page builder.

Everything here was written by hand for this set from the task (the scanned invoices and letters
Kairo's users upload), not derived from any OCR or layout model output. Companies, tax ids,
addresses, account numbers and amounts are invented; line amounts and totals are computed with
``Decimal`` so they add up. ``build_page`` turns a :class:`PageSpec` into a :class:`PageContent`:
a list of elements (heading, lines, paragraphs, tables...) that ``generate.py`` lays out and draws.
The only randomness (which items, which quantities) comes from a generator seeded by the page id.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

import numpy as np

from benchmarks.search_eval.corpus import eur, money_en

Lang = Literal["es", "en"]
Totals = Literal["in_table", "lines", "none"]
"""Where an invoice's totals go: ``in_table`` as extra rows of the item table (label in the
second-to-last column, amount in the last, inside the grid or on the table's columns), ``lines``
as right-aligned "label: amount" text lines set apart below the table, ``none`` for no totals."""

_CENT = Decimal("0.01")


# --- parties ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    name: str
    lines: tuple[str, ...]  # address, tax id, contact
    iban: str = ""
    registry: str = ""  # the legal footer of a company's invoices


SELLERS: dict[str, Party] = {
    "reformas": Party(
        "Reformas Albero S.L.",
        ("C/ Sierpes 41, 41004 Sevilla", "CIF B41728365", "Tel. 954 218 337"),
        "ES76 2100 0418 4502 0005 1332",
        "Reformas Albero S.L. · Registro Mercantil de Sevilla, tomo 5120, folio 33, hoja SE-84512",
    ),
    "electricidad": Party(
        "Instalaciones Eléctricas Noguera, S.L.",
        ("Av. de Aragón 112, 46021 Valencia", "CIF B46390217", "noguera@noguerainstal.es"),
        "ES91 0081 0216 7300 0142 8871",
        "Registro Mercantil de Valencia, tomo 9311, libro 6594, folio 120, hoja V-143298",
    ),
    "carpinteria": Party(
        "Carpintería Hermanos Villalba",
        ("Polígono El Prado, nave 7, 06800 Mérida", "NIF J06512348", "Tel. 924 301 778"),
        "ES18 0049 6712 4021 1603 7754",
    ),
    "distribucion": Party(
        "Distribuciones Cantábrico, S.A.",
        ("C/ Marqués de la Hermida 28, 39009 Santander", "CIF A39274516", "Tel. 942 226 410"),
        "ES44 0030 7011 2908 6612 0273",
        "Distribuciones Cantábrico, S.A. · R. M. de Cantabria, tomo 802, folio 14, hoja S-9921",
    ),
    "asesoria": Party(
        "Asesoría Fiscal Ortega y Pons",
        ("Gran Vía 58, 3.º B, 28013 Madrid", "CIF B87412963", "info@ortegaypons.es"),
        "ES07 2085 9731 1803 3051 6240",
    ),
    "imprenta": Party(
        "Gráficas Sotomayor",
        ("Rúa do Vilar 19, 15705 Santiago de Compostela", "CIF B15634872", "Tel. 981 574 203"),
        "ES62 2080 0300 8730 4012 9985",
        "Gráficas Sotomayor S.L. · Rexistro Mercantil da Coruña, tomo 3371, folio 98, C-41877",
    ),
    "climatizacion": Party(
        "Climatización Levante Frío, S.L.",
        ("C/ Pintor Sorolla 9, 03001 Alicante", "CIF B03918274", "Tel. 965 140 962"),
        "ES23 0182 6015 1902 0171 3348",
    ),
    "hosteleria": Party(
        "Cafetería Restaurante El Olivo",
        ("Plaza Mayor 3, 37002 Salamanca", "NIF 07965432L"),
    ),
    "ferreteria": Party(
        "Ferretería Industrial Goñi",
        ("C/ Estafeta 60, 31001 Pamplona", "CIF B31567284", "Tel. 948 224 115"),
        "ES35 3008 0001 1527 4410 8163",
    ),
    "jardineria": Party(
        "Jardinería Los Almendros, S.L.L.",
        ("Camino de Ronda 144, 18004 Granada", "CIF B18473926", "Tel. 958 252 640"),
        "ES50 0487 3001 8420 0055 9132",
    ),
    "northgate": Party(
        "Northgate Office Supplies Ltd",
        ("Unit 5, Riverside Park, Bristol BS2 0JZ", "VAT reg. GB 318 4470 26"),
        "Sort code 40-12-76, account 61823904",
        "Northgate Office Supplies Ltd · Registered in England and Wales no. 08841273",
    ),
    "harwood": Party(
        "Harwood & Finch Ltd",
        ("14 Cavendish Row, Leeds LS2 7JQ", "VAT reg. GB 284 7731 52"),
        "Sort code 20-45-91, account 30517648",
    ),
    "costablanca": Party(
        "Costa Blanca Property Services S.L.",
        ("Av. Europa 31, 03503 Benidorm, Spain", "CIF B54837261", "Tel. +34 966 801 237"),
        "ES29 2100 3925 8102 0061 4478",
    ),
}

CLIENTS: dict[str, Party] = {
    "comunidad": Party(
        "Comunidad de Propietarios Calle Feria 22", ("C/ Feria 22, 41003 Sevilla", "CIF H41987230")
    ),
    "clinica": Party(
        "Clínica Dental Sonrisa Norte, S.L.", ("Av. de Burgos 16, 28036 Madrid", "CIF B86120394")
    ),
    "colegio": Party(
        "Colegio Santa Teresa de Jesús", ("C/ Colón 50, 46004 Valencia", "CIF R4600321C")
    ),
    "hotel": Party(
        "Hotel Miramar Costa, S.A.", ("Paseo Marítimo 7, 29602 Marbella", "CIF A29381745")
    ),
    "ayuntamiento": Party(
        "Ayuntamiento de Villanueva del Arzobispo",
        ("Plaza Mayor 1, 23330 Villanueva del Arzobispo (Jaén)", "CIF P2309700E"),
    ),
    "particular": Party(
        "María José Herrero Campos", ("C/ Real 15, 2.º A, 10003 Cáceres", "NIF 28976543T")
    ),
    "taller": Party(
        "Talleres Mecánicos Ibarra, S.L.",
        ("Pol. Ind. Asua, parcela 12, 48950 Erandio (Bizkaia)", "CIF B48726351"),
    ),
    "panaderia": Party("Panadería La Espiga de Oro", ("C/ Ancha 8, 24003 León", "NIF 09812376H")),
    "greenfield": Party(
        "Greenfield Lettings Ltd", ("3 Park Square, Leeds LS1 2NE", "Attn: Accounts Payable")
    ),
    "atlas": Party(
        "Atlas Marine Engineering Ltd", ("Dock Road, Southampton SO14 3GG", "PO ref. AME-7731")
    ),
    "langley": Party(
        "Mr Peter Langley", ("Villa Las Palmeras, Partida Cap Blanc 14", "03590 Altea, Alicante")
    ),
}


# --- items --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    ref: str
    short: str
    long: str  # "" when the item has no long wording
    unit: str
    price: Decimal
    vat: int = 21


# One item per unindented line: "ref | unit | unit price | VAT % | short wording" ("-": no ref);
# the indented lines under it are its long wording (joined with spaces), used by tables whose
# descriptions wrap inside their cells.
_ITEMS_TEXT = """
[reformas]
RF-101 | m² | 18.50 | 21 | Demolición de alicatado
    Demolición de alicatado existente en cocina y baño, con retirada de escombros
    a vertedero autorizado
RF-114 | m² | 42.00 | 21 | Alicatado de azulejo
    Suministro y colocación de azulejo cerámico 30x60 en paredes de baño, con adhesivo
    flexible y rejuntado
RF-120 | m² | 38.75 | 21 | Solado de gres porcelánico
    Solado de gres porcelánico rectificado 60x60 en salón y pasillo, incluido rodapié del
    mismo material
RF-132 | m² | 9.80 | 21 | Pintura plástica
    Pintura plástica lisa en paredes y techos, dos manos, color blanco roto, previa
    reparación de grietas
RF-140 | ud | 865.00 | 21 | Plato de ducha
    Sustitución de bañera por plato de ducha de resina 80x160 con mampara corredera de
    vidrio templado
RF-151 | ud | 295.00 | 21 | Puerta de paso
    Puerta de paso lacada en blanco de 72,5 cm con herrajes, manillas y tapajuntas colocados
RF-163 | h | 32.00 | 21 | Mano de obra oficial
    Mano de obra de oficial de primera para remates de albañilería no incluidos en otras
    partidas
RF-170 | ud | 210.00 | 21 | Contenedor de escombros
    Alquiler de contenedor de escombros de 5 m³ durante una semana, con permiso de ocupación
    de vía pública

[electricidad]
EL-010 | ud | 85.00 | 21 | Revisión de cuadro eléctrico
    Revisión completa del cuadro general de protección con apriete de bornes y medición de
    aislamiento
EL-022 | ud | 96.40 | 21 | Diferencial 40 A
    Suministro e instalación de interruptor diferencial 2x40 A 30 mA superinmunizado en el
    cuadro existente
EL-035 | ud | 48.00 | 21 | Punto de luz
    Punto de luz sencillo empotrado con cable de 1,5 mm² libre de halógenos, mecanismo y caja
    de registro
EL-041 | ud | 56.50 | 21 | Toma de corriente
    Toma de corriente doble con toma de tierra en cocina, con línea independiente de 2,5 mm²
    desde el cuadro
EL-058 | ud | 39.90 | 21 | Luminaria LED 18 W
    Luminaria LED empotrable de 18 W y 4000 K para techo de escayola, incluido driver y
    montaje
EL-063 | ud | 150.00 | 21 | Boletín eléctrico
    Certificado de instalación eléctrica de baja tensión y tramitación del boletín ante
    Industria
EL-070 | h | 34.00 | 21 | Hora de oficial electricista
    Hora de oficial electricista para localizar una avería en la línea de alumbrado exterior
    del garaje
EL-084 | m | 6.75 | 21 | Canaleta PVC 40x16
    Canaleta de PVC blanca de 40x16 mm con tapa, instalada en superficie sobre pared de
    ladrillo

[carpinteria]
CA-01 | ud | 1240.00 | 21 | Armario empotrado
    Frente de armario empotrado de tres puertas correderas en melamina roble, con interior
    de baldas y barra
CA-02 | ud | 615.00 | 21 | Ventana de aluminio
    Ventana de aluminio oscilobatiente con rotura de puente térmico, 120x110 cm, con doble
    acristalamiento
CA-03 | m² | 27.60 | 21 | Tarima flotante
    Tarima flotante laminada AC5 de 8 mm sobre lámina de polietileno, con rodapié a juego
CA-04 | ud | 35.00 | 21 | Ajuste de puertas
    Ajuste y cepillado de puertas de paso que rozan con el suelo nuevo, incluido el cambio
    de bisagras
CA-05 | m | 148.00 | 21 | Encimera de roble
    Encimera de madera maciza de roble de 40 mm, aceitada, cortada a medida con hueco para
    la placa
CA-06 | ud | 45.00 | 21 | Desplazamiento

[distribucion]
0412-A | caja | 58.20 | 10 | Aceite de oliva virgen extra 5 l
    Garrafa de aceite de oliva virgen extra de 5 litros, cosecha temprana, caja de 3 unidades
0415-B | saco | 17.40 | 4 | Harina de trigo 25 kg
1020-C | fardo | 11.90 | 10 | Azúcar blanco 1 kg
1107 | saco | 8.65 | 10 | Arroz redondo 5 kg
1210 | bandeja | 46.80 | 10 | Bonito del norte 250 g
    Lata de bonito del norte en aceite de oliva de 250 g, pesca con caña, bandeja de 12 latas
1302 | pack 6 | 5.34 | 4 | Leche entera 1 l
1411 | paquete | 12.95 | 10 | Café molido natural 1 kg
1520 | garrafa | 21.30 | 21 | Detergente lavavajillas 10 l
1604 | caja | 24.60 | 21 | Servilletas de papel 30x30
    Servilletas de papel tisú de dos capas, 30x30 cm, caja de 2.400 unidades
1733 | caja | 7.85 | 21 | Guantes de nitrilo talla M
1808 | rollo | 9.20 | 21 | Film transparente 300 m
1915 | rollo | 3.75 | 21 | Bolsas de basura 85x105
2002 | pack 6 | 2.94 | 10 | Agua mineral 1,5 l

[ferreteria]
T-4520 | caja | 14.30 | 21 | Tornillo autorroscante 4,2x25
T-4607 | caja | 3.90 | 21 | Taco de nailon 8 mm
H-1102 | ud | 89.00 | 21 | Taladro percutor 800 W
    Taladro percutor de 800 W con maletín, portabrocas automático de 13 mm y juego de brocas
H-1250 | juego | 12.40 | 21 | Juego de llaves Allen
P-3001 | bote | 15.60 | 21 | Esmalte negro 750 ml
P-3018 | ud | 4.20 | 21 | Brocha plana 50 mm
C-2210 | ud | 11.75 | 21 | Candado de latón 50 mm
S-0904 | cartucho | 5.10 | 21 | Silicona neutra transparente
E-7712 | ud | 64.90 | 21 | Escalera de aluminio
    Escalera doméstica de aluminio de cinco peldaños con bandeja portaherramientas, carga
    máxima 150 kg
M-0330 | ud | 27.50 | 21 | Manguera de riego 25 m
G-1402 | par | 6.30 | 21 | Guantes de trabajo de piel

[asesoria]
- | trim. | 360.00 | 21 | Contabilidad trimestral
    Llevanza de la contabilidad del trimestre, conciliación bancaria y balance de sumas y
    saldos
- | ud | 75.00 | 21 | Modelo 303
    Preparación y presentación telemática del modelo 303 de autoliquidación del IVA del
    tercer trimestre
- | ud | 45.00 | 21 | Modelo 111
    Preparación y presentación del modelo 111 de retenciones e ingresos a cuenta del IRPF
- | mes | 180.00 | 21 | Nóminas y seguros sociales
    Elaboración de nóminas y seguros sociales de la plantilla, incluidos los partes de alta
    y baja
- | ud | 650.00 | 21 | Impuesto de Sociedades
    Preparación y presentación del Impuesto de Sociedades del ejercicio 2024 y depósito de
    las cuentas anuales
- | h | 60.00 | 21 | Consulta fiscal
    Consulta sobre la deducibilidad de los gastos del vehículo de empresa

[imprenta]
- | millar | 38.00 | 21 | Tarjetas de visita
    Tarjetas de visita 85x55 mm en cartulina estucada mate de 350 g, impresas a dos caras en
    color
- | ud | 0.32 | 21 | Folletos dípticos A4
    Folletos dípticos A4 en papel estucado brillo de 135 g, impresión en cuatricromía y
    plegado
- | ud | 1.45 | 21 | Carteles A3
- | ud | 0.09 | 21 | Sobres americanos
    Sobres americanos con ventana impresos a una tinta con el logotipo del cliente
- | ud | 72.00 | 21 | Lona publicitaria
    Lona publicitaria de 300x100 cm con ollados perimetrales para colgar en la fachada
- | h | 35.00 | 21 | Diseño gráfico
    Hora de diseño gráfico para adaptar la maqueta del catálogo
- | ud | 6.80 | 4 | Libro de 120 páginas
    Impresión y encuadernación en rústica de libro de 120 páginas, tirada corta

[climatizacion]
CL-200 | ud | 749.00 | 21 | Split 1x1 3.000 frigorías
    Equipo de aire acondicionado split inverter 1x1 de 3.000 frigorías, clase A+++, con
    bomba de calor
CL-215 | ud | 260.00 | 21 | Instalación de split
    Instalación de equipo split con hasta 3 m de línea frigorífica, soporte de pared y
    desagüe
CL-230 | m | 28.00 | 21 | Metro adicional de línea
    Metro adicional de línea frigorífica aislada y cableado de interconexión
CL-244 | kg | 62.00 | 21 | Carga de gas R32
CL-250 | ud | 95.00 | 21 | Mantenimiento anual
    Mantenimiento preventivo anual: limpieza de filtros y baterías y comprobación de
    presiones
CL-266 | ud | 118.00 | 21 | Bomba de condensados
    Bomba de evacuación de condensados de 12 l/h instalada bajo la unidad interior
CL-271 | ud | 85.00 | 21 | Retirada de equipo antiguo
    Desmontaje y retirada del equipo antiguo con recuperación del refrigerante por gestor
    autorizado

[hosteleria]
- | ud | 14.50 | 10 | Menú del día
- | ud | 1.60 | 10 | Café con leche
- | ud | 2.20 | 10 | Caña de cerveza
- | ud | 1.80 | 10 | Agua mineral 50 cl
- | ud | 2.50 | 10 | Tostada con tomate
- | ud | 9.00 | 10 | Ración de croquetas
- | ud | 4.80 | 10 | Tarta de queso
- | ud | 2.90 | 10 | Copa de vino de la casa

[jardineria]
- | ud | 380.00 | 21 | Desbroce de parcela
    Desbroce mecánico de parcela de 1.200 m² con retirada de restos vegetales a punto limpio
- | ud | 22.00 | 21 | Poda de olivos
    Poda de formación de olivos jóvenes y tratamiento de los cortes con pasta cicatrizante
- | m² | 8.90 | 21 | Césped en tepes
    Suministro y colocación de césped en tepes sobre terreno preparado con abono de fondo
- | ud | 640.00 | 21 | Riego por goteo
    Instalación de riego por goteo con programador de cuatro zonas, electroválvulas y
    tubería de 16 mm
- | mes | 145.00 | 21 | Mantenimiento mensual
    Mantenimiento mensual del jardín: siega, recorte de setos, limpieza y revisión del riego
- | ud | 12.50 | 21 | Arbustos de flor
- | m³ | 54.00 | 21 | Tierra vegetal cribada

[northgate]
NOS-1101 | box | 24.99 | 20 | A4 copier paper 80 gsm, 5 reams
NOS-1240 | pack | 8.45 | 20 | Ballpoint pens, blue, pack of 50
NOS-2015 | pack | 17.20 | 20 | Lever arch files, pack of 10
NOS-3310 | each | 118.50 | 20 | Toner cartridge
    Black toner cartridge for HP LaserJet Pro M404, high yield, approximately 10,000 pages
NOS-3322 | each | 12.75 | 20 | Desk organiser
NOS-4100 | each | 189.00 | 20 | Ergonomic office chair
    Ergonomic mesh office chair with adjustable lumbar support and armrests, delivered
    assembled
NOS-4502 | pack | 6.30 | 20 | Whiteboard markers, assorted
NOS-5007 | each | 149.00 | 20 | Paper shredder
    Cross-cut paper shredder, 12 sheet capacity, with a 23 litre bin and overheat protection
NOS-6011 | pack | 4.60 | 20 | Sticky notes 76x76 mm

[harwood]
- | day | 950.00 | 20 | Strategy workshop
    Half-day strategy workshop with the management team, including preparation and a
    written summary
- | hours | 85.00 | 20 | Market research
    Desk research on the UK market for modular office furniture, with competitor profiles
- | trip | 146.40 | 20 | Travel expenses
    Rail travel Leeds to London and back, 12 March
- | hours | 85.00 | 20 | Report writing
- | hours | 85.00 | 20 | Follow-up call

[costablanca]
- | month | 180.00 | 21 | Pool cleaning
    Weekly pool cleaning in March: skimming, vacuuming, filter backwash and chemical balance
- | month | 120.00 | 21 | Garden maintenance
- | month | 45.00 | 21 | Key holding
    Key holding and fortnightly inspection visits while the property is unoccupied
- | each | 415.00 | 21 | New pool pump
    Supply and fitting of a new 1 HP pool pump, including removal and disposal of the old
    unit
- | each | 90.00 | 21 | Emergency call-out
    Emergency call-out on Sunday 9 March for a burst pipe in the utility room
"""


def _parse_items(text: str) -> dict[str, tuple[Item, ...]]:
    """The item catalogue of each seller, from :data:`_ITEMS_TEXT`."""
    catalogue: dict[str, list[Item]] = {}
    items: list[Item] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("["):
            items = catalogue.setdefault(line.strip("[]"), [])
        elif line.startswith(" "):
            last = items[-1]
            wording = f"{last.long} {line.strip()}".strip()
            items[-1] = Item(last.ref, last.short, wording, last.unit, last.price, last.vat)
        else:
            ref, unit, price, vat, short = (part.strip() for part in line.split("|"))
            items.append(Item("" if ref == "-" else ref, short, "", unit, Decimal(price), int(vat)))
    return {seller: tuple(entries) for seller, entries in catalogue.items()}


ITEMS: dict[str, tuple[Item, ...]] = _parse_items(_ITEMS_TEXT)

# Column kinds and their printed headers, per language.
HEADERS: dict[Lang, dict[str, str]] = {
    "es": {
        "ref": "Ref.",
        "desc": "Descripción",
        "qty": "Cant.",
        "unit": "Ud.",
        "price": "Precio",
        "disc": "Dto.",
        "vat": "IVA",
        "amount": "Importe",
        "notes": "Observaciones",
        "item": "Partida",
    },
    "en": {
        "ref": "Code",
        "desc": "Description",
        "qty": "Qty",
        "unit": "Unit",
        "price": "Unit price",
        "disc": "Disc.",
        "vat": "VAT",
        "amount": "Amount",
        "notes": "Notes",
        "item": "Item",
    },
}
RIGHT_ALIGNED = frozenset({"qty", "price", "disc", "vat", "amount"})


# --- page specifications ------------------------------------------------------------------------


@dataclass(frozen=True)
class TableSpec:
    columns: tuple[str, ...]  # column kinds, see HEADERS
    items: int  # item rows (the header row and any in-table totals come on top)
    ruled: bool = False  # full grid
    header_rule: bool = False  # borderless: a rule under the header row
    header_shade: bool = False  # ruled: grey header row
    wrap: bool = False  # long descriptions, wrapped over 2-3 lines inside their cell
    totals: Totals = "in_table"
    headers: tuple[tuple[str, str], ...] = ()  # overrides of HEADERS
    vat_table: bool = False  # a second table after the items: the VAT breakdown by rate
    negate: bool = False  # a corrective invoice: amounts credited


@dataclass(frozen=True)
class PageSpec:
    id: str
    lang: Lang
    kind: str  # factura, factura_simplificada, presupuesto, albaran, invoice, quote, letter...
    title: str
    seller: str
    client: str
    table: TableSpec | None = None
    family: str = "sans"
    size: int = 28
    heading_align: str = "left"
    side_by_side: bool = True  # seller and client blocks side by side (else one under another)
    footer: bool = False
    irpf: int = 0  # IRPF withholding in % (professional services)
    letter: tuple[str, ...] = ()  # a letter's paragraphs


def _letter(*paragraphs: str) -> tuple[str, ...]:
    return paragraphs


T = TableSpec
# fmt: off
PAGE_SPECS: tuple[PageSpec, ...] = (
    PageSpec("page-01", "es", "factura", "FACTURA", "reformas", "comunidad",
             T(("desc", "qty", "price", "amount"), 5, header_rule=True),
             heading_align="right", footer=True),
    PageSpec("page-02", "es", "factura", "FACTURA", "ferreteria", "taller",
             T(("ref", "desc", "qty", "price", "disc", "amount"), 9, ruled=True, totals="lines"),
             side_by_side=False),
    PageSpec("page-03", "es", "factura", "FACTURA", "asesoria", "clinica",
             T(("desc", "qty", "amount"), 3, wrap=True, totals="lines",
               headers=(("desc", "Concepto"), ("qty", "Cantidad"))),
             family="serif", heading_align="center", irpf=15),
    PageSpec("page-04", "es", "factura_simplificada", "FACTURA SIMPLIFICADA", "hosteleria",
             "particular",
             T(("qty", "desc", "price", "amount"), 6, header_rule=True,
               headers=(("desc", "Artículo"), ("price", "P.V.P."))),
             size=30, heading_align="center"),
    PageSpec("page-05", "es", "presupuesto", "PRESUPUESTO", "climatizacion", "hotel",
             T(("ref", "desc", "qty", "unit", "price", "amount"), 5, ruled=True, wrap=True,
               header_shade=True),
             heading_align="right"),
    PageSpec("page-06", "es", "factura", "FACTURA", "imprenta", "colegio",
             T(("desc", "qty", "price", "vat", "amount"), 7, ruled=True, totals="lines",
               vat_table=True),
             family="serif", footer=True),
    PageSpec("page-07", "es", "albaran", "ALBARÁN DE ENTREGA", "distribucion", "panaderia",
             T(("ref", "desc", "qty", "unit", "notes"), 10, header_rule=True, totals="none",
               headers=(("qty", "Cantidad"),)),
             side_by_side=False, footer=True),
    PageSpec("page-08", "es", "factura", "FACTURA", "carpinteria", "particular",
             T(("desc", "qty", "price", "amount"), 4, ruled=True, wrap=True,
               headers=(("price", "Precio unitario"),)),
             family="serif", heading_align="right"),
    PageSpec("page-09", "es", "factura_rectificativa", "FACTURA RECTIFICATIVA", "electricidad",
             "colegio",
             T(("desc", "qty", "price", "amount"), 2, totals="lines", negate=True,
               headers=(("desc", "Concepto"),)),
             footer=True),
    PageSpec("page-10", "es", "presupuesto", "PRESUPUESTO", "jardineria", "ayuntamiento",
             T(("item", "desc", "amount"), 4, header_rule=True, wrap=True),
             heading_align="center", side_by_side=False),
    PageSpec("page-11", "es", "factura", "FACTURA", "distribucion", "hotel",
             T(("ref", "desc", "qty", "price", "disc", "amount"), 11, header_rule=True,
               totals="lines"),
             size=26, footer=True),
    PageSpec("page-12", "es", "factura", "FACTURA", "reformas", "particular",
             T(("desc", "qty", "unit", "price", "amount"), 5, ruled=True, wrap=True,
               totals="lines"),
             family="serif", side_by_side=False),
    PageSpec("page-13", "es", "factura", "FACTURA", "electricidad", "clinica",
             T(("desc", "qty", "price", "amount"), 7, wrap=True,
               headers=(("desc", "Concepto"), ("qty", "Unidades"))),
             heading_align="right"),
    PageSpec("page-14", "es", "factura_simplificada", "FACTURA SIMPLIFICADA", "ferreteria",
             "particular",
             T(("desc", "qty", "amount"), 4, ruled=True, totals="lines"),
             size=30, heading_align="center", side_by_side=False),
    PageSpec("page-15", "es", "factura", "FACTURA", "climatizacion", "comunidad",
             T(("ref", "desc", "qty", "price", "vat", "amount"), 5, ruled=True, wrap=True,
               header_shade=True, vat_table=True, totals="lines"),
             footer=True),
    PageSpec("page-16", "es", "presupuesto", "PRESUPUESTO", "reformas", "clinica",
             T(("desc", "qty", "unit", "price", "amount"), 7, header_rule=True, wrap=True,
               totals="lines"),
             family="serif", heading_align="center"),
    PageSpec("page-17", "es", "factura", "FACTURA", "asesoria", "taller",
             T(("desc", "qty", "price", "amount"), 3, ruled=True,
               headers=(("desc", "Concepto"), ("qty", "Unidades"), ("price", "Precio"))),
             irpf=15, heading_align="right"),
    PageSpec("page-18", "es", "factura", "FACTURA", "jardineria", "comunidad",
             T(("desc", "qty", "price", "disc", "amount"), 6, wrap=True, header_rule=True),
             family="serif", side_by_side=False, footer=True),
    PageSpec("page-19", "en", "invoice", "INVOICE", "harwood", "greenfield",
             T(("desc", "qty", "price", "amount"), 5, header_rule=True, totals="lines",
               headers=(("qty", "Hours/qty"),)),
             heading_align="right"),
    PageSpec("page-20", "en", "invoice", "INVOICE", "northgate", "atlas",
             T(("ref", "desc", "qty", "price", "vat", "amount"), 8, ruled=True, wrap=True),
             footer=True),
    PageSpec("page-21", "en", "quote", "QUOTATION", "costablanca", "langley",
             T(("desc", "qty", "amount"), 4, wrap=True, totals="lines"),
             family="serif", heading_align="center", side_by_side=False),
    PageSpec("page-22", "es", "carta", "RECLAMACIÓN DE FACTURA", "particular_sender",
             "climatizacion", family="serif", letter=_letter(
        "Muy señores míos:",
        "Me dirijo a ustedes en relación con la factura n.º F-2025/0188, de 3 de marzo, "
        "correspondiente a la instalación de un equipo de aire acondicionado en mi domicilio. "
        "En ella figuran seis metros adicionales de línea frigorífica, cuando el técnico que "
        "realizó el trabajo me confirmó que no fue necesario ninguno.",
        "Les ruego que revisen el importe y me remitan una factura rectificativa. Hasta que la "
        "reciba, dejaré en suspenso el pago de la diferencia, y abonaré el resto en el plazo "
        "acordado.",
        "Quedo a su disposición para cualquier aclaración en el teléfono 627 814 309.",
        "Atentamente,",
    )),
    PageSpec("page-23", "es", "carta", "COMUNICACIÓN DE CAMBIO DE DOMICILIO SOCIAL", "imprenta",
             "colegio", letter=_letter(
        "Estimados clientes:",
        "Les comunicamos que, a partir del 1 de abril de 2025, Gráficas Sotomayor traslada su "
        "domicilio social y su taller a la Rúa da Industria 7, Polígono do Tambre, 15890 "
        "Santiago de Compostela. Los teléfonos y la dirección de correo electrónico no cambian.",
        "Les rogamos que actualicen estos datos en sus registros y que, desde esa fecha, "
        "dirijan a la nueva dirección toda la correspondencia y las devoluciones de material.",
        "Agradecemos su confianza y les saludamos muy atentamente,",
    )),
    PageSpec("page-24", "en", "letter", "PAYMENT REMINDER", "northgate", "atlas",
             family="serif", letter=_letter(
        "Dear Sir or Madam,",
        "According to our records, invoice NOS-25-0412 of 4 February 2025 for £1,286.40 "
        "remains unpaid, although it fell due on 6 March. A copy of the invoice is enclosed "
        "for your convenience.",
        "We would be grateful if you could arrange payment within the next seven days. If "
        "payment has already been made, please accept our thanks and disregard this letter.",
        "Yours faithfully,",
    )),
)
# fmt: on


# --- page content -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Heading:
    text: str
    align: str


@dataclass(frozen=True)
class Lines:
    """Printed lines, one under another; ``bold`` per line; ``align`` left or right."""

    lines: tuple[str, ...]
    bold: tuple[bool, ...]
    align: str = "left"


@dataclass(frozen=True)
class Columns:
    """Two blocks of lines side by side; the left one is read first."""

    left: Lines
    right: Lines


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Space:
    lines: float


@dataclass(frozen=True)
class Table:
    rows: tuple[tuple[str, ...], ...]  # header row first
    right: tuple[bool, ...]  # flush-right columns
    wrap_column: int | None  # the column that takes the slack and may wrap
    ruled: bool
    header_rule: bool
    header_shade: bool
    totals_from: int | None = None  # first in-table totals row (a rule above it if borderless)
    narrow: bool = False  # wrap: cap the wrapping column so long wording takes 2-3 lines


@dataclass(frozen=True)
class Footer:
    text: str


Element = Heading | Lines | Columns | Paragraph | Space | Table | Footer


@dataclass(frozen=True)
class PageContent:
    spec: PageSpec
    elements: tuple[Element, ...] = field(default_factory=tuple)


def page_seed(page_id: str) -> int:
    """Stable seed from the page id (crc32, not hash(): that is salted per process)."""
    return zlib.crc32(page_id.encode("utf-8"))


def _money(amount: Decimal, lang: Lang, seller: str) -> str:
    if lang == "es":
        return eur(amount)
    symbol = "€" if seller == "costablanca" else "£"
    sign = "-" if amount < 0 else ""
    return sign + money_en(abs(amount), symbol)


def _number(value: Decimal, lang: Lang) -> str:
    """A quantity as printed: "6", "2,5", "2.500" (Spanish) or "2.5", "2,500" (English)."""
    whole = value == value.to_integral_value()
    text = f"{value:,.0f}" if whole else f"{value.normalize():f}"
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".") if lang == "es" else text


def _quantity(item: Item, rng: np.random.Generator, seller: str) -> Decimal:
    if seller == "hosteleria":  # one table's bill
        return Decimal(int(rng.integers(1, 7)))
    if item.unit in ("m²", "m", "m³"):
        return Decimal(int(rng.integers(8, 120))) / 2
    if item.unit in ("h", "hours"):
        return Decimal(int(rng.integers(2, 20))) / 2
    if seller == "imprenta" and item.price < 2:  # leaflets, envelopes: printed by the hundred
        return Decimal(int(rng.integers(2, 11)) * 250)
    if item.price > 500:
        return Decimal(int(rng.integers(1, 3)))
    return Decimal(int(rng.integers(1, 13)))


def _quantize(value: Decimal) -> Decimal:
    return value.quantize(_CENT, ROUND_HALF_UP)


def _items_table(spec: PageSpec, rng: np.random.Generator) -> list[Element]:
    """The item table and what follows it (VAT breakdown, totals), amounts adding up."""
    table = spec.table
    assert table is not None
    lang = spec.lang
    pool = ITEMS[spec.seller]
    picks = sorted(rng.choice(len(pool), size=table.items, replace=False).tolist())
    items = [pool[i] for i in picks]
    labels = HEADERS[lang] | dict(table.headers)
    columns = table.columns
    rows: list[tuple[str, ...]] = [tuple(labels[c] for c in columns)]
    base_by_rate: dict[int, Decimal] = {}
    discount_rows = set(rng.choice(len(items), size=max(1, len(items) // 3), replace=False))
    for n, item in enumerate(items):
        qty = _quantity(item, rng, spec.seller)
        price = -item.price if table.negate else item.price
        discount = 10 if "disc" in columns and n in discount_rows else 0
        amount = _quantize(qty * price * (100 - discount) / 100)
        base_by_rate[item.vat] = base_by_rate.get(item.vat, Decimal(0)) + amount
        description = item.long if table.wrap and item.long else item.short
        if table.negate:
            description = f"Abono: {description.lower()[0]}{description[1:]}"
        cells = {
            "ref": item.ref,
            "desc": description,
            "qty": _number(qty, lang),
            "unit": item.unit,
            "price": _money(price, lang, spec.seller),
            "disc": f"{discount} %" if discount else "",
            "vat": f"{item.vat} %",
            "amount": _money(amount, lang, spec.seller),
            "notes": "Falta 1 unidad" if "notes" in columns and n in discount_rows else "",
            "item": str(n + 1),
        }
        rows.append(tuple(cells[c] for c in columns))

    base = sum(base_by_rate.values(), Decimal(0))
    vat_by_rate = {rate: _quantize(b * rate / 100) for rate, b in sorted(base_by_rate.items())}
    withheld = _quantize(base * spec.irpf / 100)
    total = base + sum(vat_by_rate.values(), Decimal(0)) - withheld
    es = lang == "es"
    total_label = {
        "factura_simplificada": "Total (IVA incluido)",
        "presupuesto": "Total presupuesto",
        "quote": "Total quoted",
        "invoice": "Total due",
    }.get(spec.kind, "TOTAL FACTURA")
    totals: list[tuple[str, str]] = []
    if spec.kind == "factura_simplificada":  # prices include VAT: the quota is informative
        rate = next(iter(vat_by_rate))
        included = _quantize(base - base / (1 + Decimal(rate) / 100))
        totals = [(f"IVA incluido ({rate} %)", eur(included)), (total_label, eur(base))]
    else:
        totals.append(("Base imponible" if es else "Subtotal", _money(base, lang, spec.seller)))
        if not table.vat_table:
            for rate, vat in vat_by_rate.items():
                label = f"IVA {rate} %" if es else f"VAT {rate} %"
                totals.append((label, _money(vat, lang, spec.seller)))
        if spec.irpf:
            totals.append((f"Retención IRPF {spec.irpf} %", _money(-withheld, lang, spec.seller)))
        totals.append((total_label, _money(total, lang, spec.seller)))

    elements: list[Element] = []
    totals_from = None
    if table.totals == "in_table":
        totals_from = len(rows)
        blank = ("",) * (len(columns) - 2)
        rows += [(*blank, label, amount) for label, amount in totals]
    right = tuple(c in RIGHT_ALIGNED for c in columns)
    wrap_column = columns.index("desc")
    elements.append(
        Table(
            tuple(rows),
            right,
            wrap_column,
            table.ruled,
            table.header_rule or table.ruled,
            table.header_shade,
            totals_from,
            narrow=table.wrap,
        )
    )
    if table.vat_table:
        header = ("Base imponible", "Tipo", "Cuota") if es else ("Net", "Rate", "VAT")
        vat_rows = [header] + [
            (
                _money(base_by_rate[rate], lang, spec.seller),
                f"{rate} %",
                _money(vat, lang, spec.seller),
            )
            for rate, vat in vat_by_rate.items()
        ]
        elements += [
            Space(0.8),
            Lines(("Desglose de IVA" if es else "VAT analysis",), (True,)),
            Table(
                tuple(vat_rows),
                (True, True, True),
                None,
                table.ruled,
                table.header_rule or table.ruled,
                table.header_shade,
            ),
        ]
    if table.totals == "lines" or (table.vat_table and table.totals != "none"):
        shown = totals if table.totals == "lines" else totals[-1:]
        elements += [
            Space(1.0),
            Lines(
                tuple(f"{label}: {amount}" for label, amount in shown),
                tuple(n == len(shown) - 1 for n in range(len(shown))),
                align="right",
            ),
        ]
    if spec.kind == "albaran":
        count = sum(int(Decimal(r[columns.index("qty")].replace(",", "."))) for r in rows[1:])
        elements += [Space(1.0), Lines((f"Total bultos: {count}",), (True,))]
    return elements


_META = {
    "factura": ("Factura n.º", "F-2025/"),
    "factura_simplificada": ("Ticket n.º", "T-"),
    "factura_rectificativa": ("Factura rectificativa n.º", "R-2025/"),
    "presupuesto": ("Presupuesto n.º", "P-25-"),
    "albaran": ("Albarán n.º", "A-"),
    "invoice": ("Invoice no.", "INV-2025-"),
    "quote": ("Quotation no.", "Q-25-"),
}
_MONTHS_ES = ("enero", "febrero", "marzo", "abril", "mayo", "junio")
_MONTHS_EN = ("January", "February", "March", "April", "May", "June")


def _party_lines(party: Party, label: str | None) -> Lines:
    lines = ([label] if label else []) + [party.name, *party.lines]
    bold = ([True] if label else []) + [not label] + [False] * len(party.lines)
    return Lines(tuple(lines), tuple(bold))


def _meta(spec: PageSpec, rng: np.random.Generator) -> tuple[Lines, str]:
    label, prefix = _META[spec.kind]
    number = f"{prefix}{int(rng.integers(12, 480)):04d}"
    day, month = int(rng.integers(1, 29)), int(rng.integers(0, 6))
    if spec.lang == "es":
        lines = [f"{label}: {number}", f"Fecha: {day:02d}/{month + 1:02d}/2025"]
        if spec.kind == "presupuesto":
            lines.append("Validez de la oferta: 30 días")
        if spec.kind == "factura_rectificativa":
            lines.append(f"Rectifica a la factura F-2025/{int(rng.integers(12, 480)):04d}")
        date = f"{day} de {_MONTHS_ES[month]} de 2025"
    else:
        lines = [f"{label}: {number}", f"Date: {day} {_MONTHS_EN[month]} 2025"]
        if spec.kind == "invoice":
            lines.append("Terms: 30 days net")
        date = f"{day} {_MONTHS_EN[month]} 2025"
    return Lines(tuple(lines), (False,) * len(lines)), date


def _payment(spec: PageSpec, seller: Party) -> str | None:
    if spec.kind in ("albaran", "factura_simplificada"):
        return None
    if spec.kind == "presupuesto":
        return (
            "Forma de pago: 40 % a la aceptación del presupuesto y el resto a la finalización "
            f"de los trabajos, por transferencia a la cuenta {seller.iban}."
        )
    if spec.lang == "en":
        return (
            f"Please pay by bank transfer to {seller.name}, {seller.iban}, quoting the "
            "number above."
        )
    return (
        f"Forma de pago: transferencia bancaria a la cuenta {seller.iban} en un plazo de "
        "30 días desde la fecha de la factura."
    )


_PRIVATE_SENDER = Party(
    "Lucía Barrios Peña", ("C/ General Lorenzo 6, 1.º C", "03004 Alicante", "NIF 48312907W")
)


def build_page(spec: PageSpec) -> PageContent:
    """The elements of one page, top to bottom, in reading order."""
    rng = np.random.default_rng(page_seed(spec.id))
    heading = Heading(spec.title, spec.heading_align)
    if spec.letter:
        return _build_letter(spec, heading, rng)
    seller, client = SELLERS[spec.seller], CLIENTS[spec.client]
    client_label = "Cliente" if spec.lang == "es" else "Bill to"
    if spec.kind == "quote":
        client_label = "Prepared for"
    elements: list[Element] = []
    if spec.side_by_side:
        elements += [
            heading,
            Columns(_party_lines(seller, None), _party_lines(client, client_label)),
        ]
    else:
        elements += [
            _party_lines(seller, None),
            Space(0.6),
            heading,
            _party_lines(client, client_label),
        ]
    meta, _ = _meta(spec, rng)
    elements += [Space(0.6), meta, Space(0.8)]
    elements += _items_table(spec, rng)
    payment = _payment(spec, seller)
    if payment:
        elements += [Space(1.2), Paragraph(payment)]
    if spec.footer and seller.registry:
        elements.append(Footer(seller.registry))
    return PageContent(spec, tuple(elements))


def _build_letter(spec: PageSpec, heading: Heading, rng: np.random.Generator) -> PageContent:
    sender = _PRIVATE_SENDER if spec.seller == "particular_sender" else SELLERS[spec.seller]
    recipient = SELLERS.get(spec.client) or CLIENTS[spec.client]
    _, date = _meta(
        PageSpec(spec.id, spec.lang, "factura" if spec.lang == "es" else "invoice", "", "", ""),
        rng,
    )
    place = "Alicante" if sender is _PRIVATE_SENDER else sender.lines[0].split(", ")[-1]
    place = "".join(ch for ch in place if not ch.isdigit()).strip()
    dated = f"{place}, {date}" if spec.lang == "es" else date
    elements: list[Element] = [
        _party_lines(sender, None),
        Space(1.0),
        Lines((dated,), (False,), align="right"),
        Space(0.6),
        _party_lines(recipient, None),
        Space(1.0),
        heading,
    ]
    for paragraph in spec.letter:
        elements += [Paragraph(paragraph), Space(0.5)]
    signer = (
        sender.name
        if sender is _PRIVATE_SENDER
        else {
            "es": "Dirección de Administración",
            "en": "Credit Control Department",
        }[spec.lang]
    )
    elements += [Space(1.5), Lines((signer,), (False,))]
    return PageContent(spec, tuple(elements))


def all_pages(specs: Sequence[PageSpec] = PAGE_SPECS) -> list[PageContent]:
    return [build_page(spec) for spec in specs]
