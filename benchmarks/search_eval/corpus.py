"""Synthetic business documents and search queries for kairo-ray's search-quality evaluation.

The documents imitate what Kairo's users upload (Spanish invoices, letters and rental contracts,
a few English memos and invoices) and were written for this set from the task description, not
taken from any OCR or search output, so the set can judge the pipeline without echoing it.
Every document carries three queries with exactly one correct answer: ``own_words`` (condensed
from the document's own wording), ``paraphrase_es`` (Spanish, other words) and ``english``.
Four Spanish invoices are near-duplicates of others (same service, different parties, dates and
amounts): only names, places, amounts or secondary items tell each pair apart.

Body-line markup, read by ``render.py`` and stripped by :attr:`Document.text`:

- ``"## ..."``: bold line (a company name, a section heading, a table header or total row);
- cells separated by ``" | "``: a table row, laid out in columns;
- ``""``: vertical space;
- :data:`PAGE_BREAK`: the rest goes on page 2 (such documents are written as 2-page PDFs).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

Language = Literal["es", "en"]
Kind = Literal[
    "factura", "carta", "contrato_arrendamiento", "presupuesto", "albaran", "memo", "invoice"
]
QueryKind = Literal["own_words", "paraphrase_es", "english"]
QUERY_KINDS: tuple[QueryKind, ...] = ("own_words", "paraphrase_es", "english")

PAGE_BREAK = "<<page-break>>"
"""Marker line: the lines after it are rendered on a second page."""

_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Queries:
    """The three ways a user looks for one document; each has exactly one correct answer."""

    own_words: str
    paraphrase_es: str
    english: str


@dataclass(frozen=True)
class Document:
    """One synthetic document: data only, so rendering and evaluation share one source."""

    id: str
    language: Language
    kind: Kind
    title: str
    lines: tuple[str, ...]
    queries: Queries
    near_duplicate_of: str | None = None

    @property
    def pages(self) -> list[list[str]]:
        """Body lines per page, split at :data:`PAGE_BREAK` markers."""
        pages: list[list[str]] = [[]]
        for line in self.lines:
            if line == PAGE_BREAK:
                pages.append([])
            else:
                pages[-1].append(line)
        return pages

    @property
    def content_lines(self) -> list[str]:
        """Body lines without markup, blanks or page breaks (what a perfect OCR would read)."""
        return [plain_line(line) for line in self.lines if line and line != PAGE_BREAK]

    @property
    def text(self) -> str:
        """Title and body as plain text: the reference for sanity checks, never for queries."""
        return "\n".join([self.title, *self.content_lines])


def plain_line(line: str) -> str:
    """Drop the bold and table markup from one body line."""
    if line.startswith("## "):
        line = line[3:]
    cells = [cell.strip() for cell in line.split("|")]
    return "  ".join(cell for cell in cells if cell)


def _dec(text: str) -> Decimal:
    """Parse the leading number of a Spanish-formatted quantity or price ("1.150,00", "6,5 h")."""
    return Decimal(text.split()[0].replace(".", "").replace(",", "."))


def eur(amount: Decimal) -> str:
    """Spanish money format, as printed on Spanish invoices: 1.234,56 €."""
    text = f"{amount.quantize(_CENT, ROUND_HALF_UP):,.2f}"
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".") + " €"


def money_en(amount: Decimal, symbol: str) -> str:
    """English money format with the currency symbol first: £1,234.56 / €1,234.56."""
    return f"{symbol}{amount.quantize(_CENT, ROUND_HALF_UP):,.2f}"


def _factura_table(
    items: Sequence[tuple[str, str, str]],
    *,
    header: str = "## Concepto | Cantidad | Precio unitario | Importe",
    iva: int = 21,
    irpf: int | None = None,
) -> tuple[str, ...]:
    """Item rows and totals of a Spanish invoice, computed so every total adds up.

    ``items`` are (concept, quantity as printed, unit price in Spanish format without €).
    """
    rows = [header]
    base = Decimal(0)
    for concept, quantity, price in items:
        amount = (_dec(quantity) * _dec(price)).quantize(_CENT, ROUND_HALF_UP)
        base += amount
        rows.append(f"{concept} | {quantity} | {eur(_dec(price))} | {eur(amount)}")
    vat = (base * iva / 100).quantize(_CENT, ROUND_HALF_UP)
    rows += ["", f"| | Base imponible | {eur(base)}", f"| | IVA {iva} % | {eur(vat)}"]
    total = base + vat
    if irpf:
        withheld = (base * irpf / 100).quantize(_CENT, ROUND_HALF_UP)
        rows.append(f"| | Retención IRPF {irpf} % | -{eur(withheld)}")
        total -= withheld
    rows.append(f"## | | TOTAL FACTURA | {eur(total)}")
    return tuple(rows)


def _invoice_table(
    items: Sequence[tuple[str, str, str]], *, symbol: str, vat_label: str
) -> tuple[str, ...]:
    """Item rows and totals of an English invoice without VAT charged (export / reverse charge).

    ``items`` are (description, quantity as printed, unit rate as a plain decimal like "0.11").
    """
    rows = ["## Description | Qty | Rate | Amount"]
    subtotal = Decimal(0)
    for description, quantity, rate in items:
        amount = (Decimal(quantity.split()[0].replace(",", "")) * Decimal(rate)).quantize(_CENT)
        subtotal += amount
        rows.append(
            f"{description} | {quantity} | {money_en(Decimal(rate), symbol)} | "
            f"{money_en(amount, symbol)}"
        )
    rows += [
        "",
        f"| | Subtotal | {money_en(subtotal, symbol)}",
        f"| | {vat_label} | {money_en(Decimal(0), symbol)}",
        f"## | | Total due | {money_en(subtotal, symbol)}",
    ]
    return tuple(rows)


DOCUMENTS: tuple[Document, ...] = (
    # ----------------------------------------------------------------------------------------
    # Spanish invoices
    # ----------------------------------------------------------------------------------------
    Document(
        id="fac-tejados-ruiz",
        language="es",
        kind="factura",
        title="FACTURA",
        lines=(
            "## TEJADOS HERMANOS RUIZ, S.L.",
            "Cubiertas, tejados e impermeabilizaciones desde 1987",
            "CIF B47382916 · C/ de la Industria, 8, nave 3 · 47012 Valladolid · Tel. 983 29 41 70",
            "",
            "Factura nº: TR-2024/0187 | Fecha: 14/03/2024",
            "Cliente: Comunidad de Propietarios Calle Mayor 12",
            "CIF H47561230 · C/ Mayor, 12 · 47001 Valladolid",
            "Obra: cubierta del edificio, faldón norte y patio de luces",
            "",
            *_factura_table(
                [
                    (
                        "Reparación de tejas rotas en cubierta (sustitución de teja árabe)",
                        "38 m²",
                        "24,50",
                    ),
                    ("Sustitución de canalón de zinc de 125 mm", "14 ml", "31,20"),
                    ("Impermeabilización de cumbrera con lámina asfáltica", "9 ml", "18,75"),
                    ("Alquiler y montaje de andamio tubular (5 días)", "1", "290,00"),
                    ("Retirada de escombros y limpieza final", "1", "85,00"),
                ]
            ),
            "",
            "Forma de pago: transferencia bancaria a 30 días",
            "IBAN: ES12 3058 5201 1827 2000 4512",
            "Garantía de dos años sobre la mano de obra ejecutada.",
        ),
        queries=Queries(
            own_words=(
                "factura de Tejados Hermanos Ruiz a la Comunidad de Propietarios Calle Mayor 12 "
                "por reparación de tejas rotas y sustitución de canalón"
            ),
            paraphrase_es=(
                "arreglar las goteras del techo del bloque y cambiar el desagüe por donde baja "
                "la lluvia"
            ),
            english="invoice for fixing a leaking roof and replacing the rain gutter, Valladolid",
        ),
    ),
    Document(
        id="fac-fontaneria-levante",
        language="es",
        kind="factura",
        title="FACTURA",
        lines=(
            "## FONTANERÍA LEVANTE, S.L.",
            "CIF B96483721 · C/ de Sueca, 41, bajo · 46006 Valencia · Tel. 963 74 28 19",
            "",
            "Nº de factura: FL-24-0932 | Fecha: 23/05/2024",
            "Cliente: Restaurante La Albufera, S.L.",
            "CIF B98127465 · Paseo Marítimo de la Patacona, 15 · 46120 Alboraya (Valencia)",
            "Aviso: fuga de agua en cocina y aseos de clientes (servicio urgente)",
            "",
            *_factura_table(
                [
                    (
                        "Localización y reparación de fuga en tubería de cobre bajo "
                        "fregadero industrial",
                        "3 h",
                        "38,00",
                    ),
                    (
                        "Sustitución de termo eléctrico de 100 litros (incluye material)",
                        "1",
                        "389,00",
                    ),
                    ("Desatasco de bajante con máquina de presión", "1", "120,00"),
                    ("Cambio de grifo monomando en aseo de clientes", "2", "64,50"),
                    ("Desplazamiento urgente fuera de horario", "1", "45,00"),
                ]
            ),
            "",
            "Forma de pago: contado, al finalizar el servicio",
            "Los materiales sustituidos quedan a disposición del cliente durante 15 días.",
        ),
        queries=Queries(
            own_words=(
                "factura de Fontanería Levante al Restaurante La Albufera por reparación de fuga "
                "y sustitución de termo eléctrico"
            ),
            paraphrase_es=(
                "avería de cañerías y calentador nuevo en un local de comidas junto a la playa"
            ),
            english=(
                "plumber's bill for a seaside restaurant: leaking pipe fixed and new water heater"
            ),
        ),
    ),
    Document(
        id="fac-catering-almendro",
        language="es",
        kind="factura",
        title="FACTURA",
        lines=(
            "## CATERING EL ALMENDRO",
            "Almendro Eventos y Banquetes, S.L. · CIF B91736248",
            "Avda. de la Buhaira, 22 · 41018 Sevilla · Tel. 954 63 20 87",
            "",
            "Factura nº: 2024-A-0311 | Fecha: 18/06/2024",
            "Cliente: Fundación Triana Emprende · CIF G91582637",
            "C/ Pureza, 64 · 41010 Sevilla",
            "Evento: cóctel de clausura del congreso anual, 14/06/2024, 85 asistentes",
            "",
            *_factura_table(
                [
                    ("Menú cóctel (8 piezas frías, 6 calientes y postre)", "85", "28,50"),
                    ("Servicio de camareros (4 camareros, 5 horas)", "20 h", "19,00"),
                    ("Alquiler de vajilla, cristalería y mantelería", "1", "240,00"),
                    ("Barra de bebidas: vino, cerveza, refrescos y agua", "85", "9,00"),
                    ("Montaje y transporte refrigerado", "1", "120,00"),
                ],
                header="## Concepto | Unidades | Precio | Importe",
                iva=10,
            ),
            "",
            "Forma de pago: 50 % de anticipo recibido; resto por transferencia a 15 días",
            "IBAN: ES91 2100 0418 4502 0005 1332",
        ),
        queries=Queries(
            own_words=(
                "factura de Catering El Almendro a la Fundación Triana Emprende por el cóctel de "
                "clausura del congreso, 85 asistentes"
            ),
            paraphrase_es=(
                "aperitivos y copas servidos al terminar unas jornadas profesionales, con personal "
                "de sala"
            ),
            english="catering invoice for a conference closing cocktail for 85 guests in Seville",
        ),
    ),
    Document(
        id="fac-abogados-ortega",
        language="es",
        kind="factura",
        title="FACTURA",
        lines=(
            "## ORTEGA & SALINAS ABOGADOS, S.L.P.",
            "CIF B87219364 · C/ de Velázquez, 54, 3º izda. · 28001 Madrid · Tel. 915 77 30 42",
            "",
            "Factura nº: OS-2024/156 | Fecha: 31/07/2024",
            "Cliente: Distribuciones Norteñas del Cantábrico, S.A.",
            "CIF A39184725 · Polígono Industrial de Raos, parcela 14 · 39011 Santander",
            "Asunto: expediente 2024/087, asesoramiento laboral y mercantil",
            "",
            *_factura_table(
                [
                    (
                        "Asesoramiento jurídico en procedimiento de despido objetivo",
                        "6,5 h",
                        "150,00",
                    ),
                    (
                        "Revisión y redacción de contrato de distribución en exclusiva",
                        "4 h",
                        "150,00",
                    ),
                    ("Asistencia a acto de conciliación laboral", "1", "350,00"),
                    ("Desplazamiento a Santander (tren y dietas)", "1", "95,40"),
                ],
                header="## Concepto | Cantidad | Honorarios | Importe",
                irpf=15,
            ),
            "",
            "Pago mediante transferencia a la cuenta ES76 0081 5240 3100 0187 2265",
            "Factura sujeta a retención del IRPF por tratarse de servicios profesionales.",
        ),
        queries=Queries(
            own_words=(
                "factura de Ortega & Salinas Abogados a Distribuciones Norteñas del Cantábrico "
                "por asesoramiento en despido objetivo y contrato de distribución"
            ),
            paraphrase_es=(
                "minuta del bufete por llevar el cese de un empleado y preparar el acuerdo para "
                "que un único revendedor venda nuestros productos"
            ),
            english=(
                "law firm invoice for advice on dismissing an employee and an exclusive "
                "distribution agreement"
            ),
        ),
    ),
    Document(
        id="fac-informatica-bitcore",
        language="es",
        kind="factura",
        title="FACTURA",
        lines=(
            "## BITCORE SISTEMAS, S.L.",
            "Servicios informáticos para empresas",
            "CIF B66538102 · C/ de Pallars, 193, 4º 2ª · 08005 Barcelona · Tel. 932 41 88 60",
            "",
            "Factura nº: BS-2024-0478 | Fecha: 30/09/2024",
            "Cliente: Gestoría Martínez Puig, S.L. · CIF B65829317",
            "Rambla de Catalunya, 98, pral. · 08008 Barcelona",
            "Periodo facturado: septiembre de 2024 (contrato de mantenimiento nº CM-112)",
            "",
            *_factura_table(
                [
                    ("Mantenimiento informático mensual (8 equipos y 1 servidor)", "1", "420,00"),
                    ("Copias de seguridad en la nube, 500 GB", "1", "35,00"),
                    ("Licencias Microsoft 365 Business Standard", "9", "11,70"),
                    ("Sustitución de disco SSD de 1 TB en servidor", "1", "189,00"),
                    ("Configuración de cortafuegos y VPN para teletrabajo", "2 h", "55,00"),
                ]
            ),
            "",
            "Vencimiento: 15/10/2024 · Recibo domiciliado",
        ),
        queries=Queries(
            own_words=(
                "factura de Bitcore Sistemas a Gestoría Martínez Puig por mantenimiento "
                "informático mensual de septiembre de 2024"
            ),
            paraphrase_es=(
                "cuota del soporte técnico de los ordenadores de la asesoría fiscal y acceso "
                "remoto seguro para trabajar desde casa"
            ),
            english=(
                "monthly IT support invoice for an accounting office in Barcelona with Microsoft "
                "365 licences and VPN setup"
            ),
        ),
    ),
    Document(
        id="fac-transportes-mino",
        language="es",
        kind="factura",
        title="FACTURA",
        lines=(
            "## TRANSPORTES MIÑO, S.L.",
            "Transporte nacional de mercancías por carretera",
            "CIF B27461830 · Polígono Industrial O Ceao, parcela 12 · 27003 Lugo",
            "Tel. 982 20 61 44",
            "",
            "Factura nº: TM/24/1093 | Fecha: 12/11/2024",
            "Cliente: Conservas Ría de Arousa, S.A. · CIF A36218574",
            "Avda. do Porto, 3 · 36600 Vilagarcía de Arousa (Pontevedra)",
            "",
            *_factura_table(
                [
                    (
                        "Transporte de 12 palets de conservas Vilagarcía - Madrid (Mercamadrid), "
                        "CMR 58812",
                        "1",
                        "980,00",
                    ),
                    ("Transporte de 8 palets Vilagarcía - Zaragoza, CMR 58813", "1", "760,00"),
                    ("Carga y descarga con transpalé eléctrico", "20 palets", "6,50"),
                    ("Recargo por combustible (gasóleo), 4 % sobre portes", "1", "69,60"),
                    ("Seguro de mercancía", "1", "42,00"),
                ],
                header="## Descripción | Cantidad | Precio | Importe",
            ),
            "",
            "Forma de pago: confirming a 60 días",
        ),
        queries=Queries(
            own_words=(
                "factura de Transportes Miño a Conservas Ría de Arousa por transporte de palets "
                "a Madrid y Zaragoza"
            ),
            paraphrase_es=(
                "envío en camión de latas de pescado desde Galicia hasta la capital y Aragón"
            ),
            english=(
                "trucking invoice for shipping pallets of canned seafood from Galicia to Madrid"
            ),
        ),
    ),
    # ----------------------------------------------------------------------------------------
    # Spanish invoices that are near-duplicates of the ones above
    # ----------------------------------------------------------------------------------------
    Document(
        id="fac-tejados-castro",
        language="es",
        kind="factura",
        title="FACTURA",
        near_duplicate_of="fac-tejados-ruiz",
        lines=(
            "## CUBIERTAS Y TEJADOS CASTRO, S.L.",
            "CIF B37295184 · Ctra. de Ledesma, km 2,5 · 37007 Salamanca · Tel. 923 18 62 05",
            "",
            "Factura nº: CC-0412/24 | Fecha: 02/10/2024",
            "Cliente: Comunidad de Propietarios Avenida de Portugal 87",
            "CIF H37820461 · Avda. de Portugal, 87 · 37005 Salamanca",
            "Obra: tejado del edificio, zona de la chimenea y alero de fachada",
            "",
            *_factura_table(
                [
                    (
                        "Reparación de tejas rotas en cubierta (teja mixta cerámica)",
                        "22 m²",
                        "27,00",
                    ),
                    (
                        "Sellado de encuentro de chimenea con mortero y babero de plomo",
                        "1",
                        "210,00",
                    ),
                    ("Colocación de red antipalomas en alero", "16 ml", "9,80"),
                    ("Plataforma elevadora con operario (media jornada)", "1", "180,00"),
                    ("Retirada de tejas viejas y limpieza de la zona de obra", "1", "60,00"),
                ]
            ),
            "",
            "Forma de pago: transferencia bancaria a 30 días",
            "IBAN: ES45 2108 2200 5100 3312 8764",
        ),
        queries=Queries(
            own_words=(
                "factura de Cubiertas y Tejados Castro a la Comunidad de Propietarios Avenida de "
                "Portugal 87 por reparación de tejas rotas en cubierta, total 1.452,97 €"
            ),
            paraphrase_es=(
                "arreglar goteras del techo junto al conducto de humos y poner malla para que no "
                "aniden pájaros"
            ),
            english="roof tile repair invoice with chimney flashing and pigeon netting, Salamanca",
        ),
    ),
    Document(
        id="fac-fontaneria-aguaclara",
        language="es",
        kind="factura",
        title="FACTURA",
        near_duplicate_of="fac-fontaneria-levante",
        lines=(
            "## INSTALACIONES AGUACLARA, S.L.L.",
            "Fontanería · Calefacción · Tratamiento de agua",
            "CIF B29864013 · C/ Hilera, 7, local 2 · 29007 Málaga · Tel. 952 30 17 45",
            "",
            "Factura nº: AC-2025-0076 | Fecha: 11/02/2025",
            "Cliente: Clínica Dental Sonrisa Sana, S.L.P.",
            "CIF B93742158 · Avda. de Andalucía, 29, 1º · 29002 Málaga",
            "Trabajo: fuga de agua en gabinete 2 y cal en equipos de esterilización",
            "",
            *_factura_table(
                [
                    (
                        "Reparación de fuga en tubería de cobre bajo lavabo de gabinete",
                        "2,5 h",
                        "36,00",
                    ),
                    ("Instalación de descalcificador de 20 litros con bypass", "1", "695,00"),
                    ("Sustitución de mecanismo de cisterna de doble descarga", "1", "48,00"),
                    ("Revisión de válvulas de corte y presión de la instalación", "1", "60,00"),
                    ("Material auxiliar (racores, teflón, latiguillos)", "1", "27,40"),
                ],
                header="## Descripción | Unidades | Precio | Total",
            ),
            "",
            "Forma de pago: recibo domiciliado a 15 días",
            "Los trabajos realizados tienen una garantía de un año.",
        ),
        queries=Queries(
            own_words=(
                "factura de Instalaciones Aguaclara a la Clínica Dental Sonrisa Sana por "
                "reparación de fuga e instalación de descalcificador, total 1.113,68 €"
            ),
            paraphrase_es=(
                "arreglo de cañerías que goteaban en la consulta del dentista y aparato para "
                "eliminar la cal"
            ),
            english=(
                "plumbing invoice for a dental clinic in Malaga: leak fixed and water softener "
                "fitted"
            ),
        ),
    ),
    Document(
        id="fac-informatica-redsur",
        language="es",
        kind="factura",
        title="FACTURA",
        near_duplicate_of="fac-informatica-bitcore",
        lines=(
            "## REDSUR INFORMÁTICA, S.L.",
            "CIF B18620593 · C/ Recogidas, 31, entreplanta · 18005 Granada · Tel. 958 52 73 14",
            "",
            "Factura nº: RS-24/0391 | Fecha: 29/11/2024",
            "Cliente: Autoescuela Genil, S.L. · CIF B18357206",
            "Camino de Ronda, 142 · 18003 Granada",
            "Periodo facturado: noviembre de 2024",
            "",
            *_factura_table(
                [
                    ("Mantenimiento informático mensual (6 equipos)", "1", "310,00"),
                    ("Antivirus gestionado para puestos de trabajo", "6", "4,90"),
                    (
                        "Sustitución de SAI (sistema de alimentación ininterrumpida) de 1500 VA",
                        "1",
                        "265,00",
                    ),
                    ("Reparación de impresora multifunción y cambio de fusor", "1", "96,00"),
                    ("Copias de seguridad en la nube, 200 GB", "1", "18,00"),
                ]
            ),
            "",
            "Forma de pago: transferencia a 30 días · IBAN ES20 3023 0120 7156 0034 9917",
        ),
        queries=Queries(
            own_words=(
                "factura de RedSur Informática a Autoescuela Genil por mantenimiento informático "
                "mensual de noviembre de 2024, total 869,26 €"
            ),
            paraphrase_es=(
                "cuota del soporte técnico de los ordenadores de una escuela de conducir, con "
                "batería nueva para los cortes de luz"
            ),
            english="IT maintenance invoice for a driving school in Granada with UPS replacement",
        ),
    ),
    Document(
        id="fac-transportes-vidal",
        language="es",
        kind="factura",
        title="FACTURA",
        near_duplicate_of="fac-transportes-mino",
        lines=(
            "## TRANSPORTES HERMANOS VIDAL, S.L.",
            "CIF B30518274 · Ctra. de Alicante, km 6 · 30007 Murcia · Tel. 968 24 90 13",
            "",
            "Factura nº: THV-2025/0058 | Fecha: 21/01/2025",
            "Cliente: Hortofrutícola Vega del Segura, S. Coop. · CIF F30284719",
            "Paraje Los Rosales, s/n · 30500 Molina de Segura (Murcia)",
            "",
            *_factura_table(
                [
                    (
                        "Transporte de 16 palets de hortalizas Murcia - Barcelona (Mercabarna) "
                        "en camión frigorífico",
                        "1",
                        "1.150,00",
                    ),
                    ("Transporte de 6 palets Murcia - Valencia (Mercavalencia)", "1", "420,00"),
                    ("Carga y descarga", "22 palets", "5,80"),
                    ("Recargo por combustible, 5 % sobre portes", "1", "78,50"),
                    ("Control de temperatura y registro de frío", "1", "35,00"),
                ],
                header="## Descripción | Cantidad | Precio | Importe",
            ),
            "",
            "Forma de pago: transferencia a 45 días",
        ),
        queries=Queries(
            own_words=(
                "factura de Transportes Hermanos Vidal a Hortofrutícola Vega del Segura por "
                "transporte de palets a Barcelona y Valencia, total 2.191,43 €"
            ),
            paraphrase_es="envío en camión refrigerado de verduras de la huerta hasta Cataluña",
            english="refrigerated truck invoice for vegetable pallets from Murcia to Barcelona",
        ),
    ),
    # ----------------------------------------------------------------------------------------
    # Spanish letters
    # ----------------------------------------------------------------------------------------
    Document(
        id="carta-convocatoria-junta",
        language="es",
        kind="carta",
        title="CONVOCATORIA DE JUNTA GENERAL ORDINARIA",
        lines=(
            "## ADMINISTRACIÓN DE FINCAS NALÓN",
            "C/ Uría, 44, 2º · 33003 Oviedo · Tel. 985 21 64 09",
            "",
            "Oviedo, 6 de marzo de 2025",
            "A todos los propietarios de la Comunidad de Propietarios C/ Campoamor, 17, "
            "33001 Oviedo",
            "",
            "Estimado/a propietario/a:",
            "Por indicación del Presidente de la Comunidad, D. Manuel Suárez Fernández, y de "
            "conformidad con el artículo 16 de la Ley de Propiedad Horizontal, se le convoca a la "
            "Junta General Ordinaria que se celebrará el jueves 20 de marzo de 2025 en el local "
            "social del bajo, a las 19:00 horas en primera convocatoria y a las 19:30 horas en "
            "segunda, con el siguiente",
            "## ORDEN DEL DÍA",
            "1. Lectura y aprobación, si procede, del acta de la sesión anterior.",
            "2. Aprobación de las cuentas del ejercicio 2024 y del presupuesto para 2025.",
            "3. Instalación de ascensor en el hueco de la escalera: presentación de tres "
            "presupuestos y votación de la obra.",
            "4. Aprobación, en su caso, de una derrama extraordinaria para financiar el ascensor, "
            "estimada en 4.200,00 € por vivienda, pagadera en 24 meses.",
            "5. Solicitud de la subvención municipal para la mejora de la accesibilidad.",
            "6. Renovación de cargos: presidente, vicepresidente y secretario.",
            "7. Ruegos y preguntas.",
            "",
            "Se recuerda que los propietarios que no estén al corriente de pago podrán asistir, "
            "pero no votar (art. 15.2 LPH). Si no puede asistir, puede delegar su voto por escrito "
            "mediante el formulario adjunto.",
            "",
            "Atentamente,",
            "Rosa María Alonso Díaz",
            "Administradora de fincas colegiada nº 1.284",
            PAGE_BREAK,
            "## DELEGACIÓN DE VOTO",
            "D./Dña. ______________________, propietario/a del piso ______ de la Comunidad de "
            "Propietarios C/ Campoamor, 17, delega su representación y voto para la Junta General "
            "Ordinaria del 20 de marzo de 2025 en D./Dña. ______________________.",
            "",
            "Firma del propietario/a: ______________________    Fecha: ____ / ____ / 2025",
        ),
        queries=Queries(
            own_words=(
                "convocatoria de junta general ordinaria de la Comunidad de Propietarios Campoamor "
                "17 Oviedo, instalación de ascensor y derrama"
            ),
            paraphrase_es=(
                "aviso de reunión de vecinos para decidir si se pone elevador y cuánto pagará cada "
                "piso"
            ),
            english="notice of a residents' meeting to vote on installing a lift in the building",
        ),
    ),
    Document(
        id="carta-oferta-empleo",
        language="es",
        kind="carta",
        title="Carta de oferta de empleo",
        lines=(
            "## HOTEL MIRADOR DE LA CALETA",
            "Hoteles Caleta Sur, S.A. · CIF A11462098 · Avda. Duque de Nájera, 12 · 11002 Cádiz",
            "",
            "Cádiz, 10 de febrero de 2025",
            "Dña. Lucía Fernández Ortiz",
            "C/ Sagasta, 58, 2º A · 11004 Cádiz",
            "",
            "Estimada Sra. Fernández:",
            "Tras el proceso de selección en el que ha participado, nos complace ofrecerle el "
            "puesto de Responsable de Recepción en nuestro hotel, con las siguientes condiciones:",
            "Puesto | Responsable de Recepción (jefa de turno)",
            "Tipo de contrato | Indefinido a jornada completa, 40 horas semanales",
            "Salario bruto anual | 26.400,00 € en 14 pagas",
            "Plus de idiomas | 120,00 € brutos mensuales (inglés y alemán)",
            "Periodo de prueba | Seis meses",
            "Fecha de incorporación | 1 de abril de 2025",
            "Convenio aplicable | Convenio Colectivo de Hostelería de la provincia de Cádiz",
            "Entre sus funciones estarán la coordinación del equipo de recepción, la gestión de "
            "reservas y la atención a los huéspedes en las entradas y salidas.",
            "Le rogamos que nos confirme su aceptación por escrito antes del 21 de febrero de "
            "2025. Para cualquier duda puede llamar al departamento de Recursos Humanos, "
            "956 21 40 33.",
            "",
            "Reciba un cordial saludo,",
            "Carmen Beltrán Ruiz",
            "Directora de Recursos Humanos",
        ),
        queries=Queries(
            own_words=(
                "carta de oferta de empleo del Hotel Mirador de la Caleta a Lucía Fernández Ortiz, "
                "Responsable de Recepción, salario bruto anual 26.400,00 €"
            ),
            paraphrase_es=(
                "propuesta de trabajo para dirigir el mostrador de entrada de un alojamiento junto "
                "al mar, con sueldo y fecha de inicio"
            ),
            english="job offer letter for a front desk manager position at a hotel in Cadiz",
        ),
    ),
    Document(
        id="carta-reclamacion-banco",
        language="es",
        kind="carta",
        title="RECLAMACIÓN POR COMISIONES INDEBIDAS",
        lines=(
            "## FERRETERÍA HERMANOS OLMEDO, S.L.",
            "CIF B45207381 · C/ del Comercio, 27 · 45001 Toledo · Tel. 925 22 67 91",
            "",
            "Toledo, 8 de abril de 2025",
            "A la atención del Director de la oficina 0412",
            "Banco Meridional Castellano · Plaza de Zocodover, 5 · 45001 Toledo",
            "Cuenta: ES43 3190 0412 7645 2201 8836",
            "",
            "Muy señores nuestros:",
            "Por la presente les comunicamos nuestra disconformidad con los siguientes cargos "
            "efectuados en la cuenta corriente de la empresa:",
            "## Fecha | Concepto | Importe",
            "31/01/2025 | Comisión por descubierto | 35,00 €",
            "28/02/2025 | Comisión por descubierto | 35,00 €",
            "31/03/2025 | Comisión de mantenimiento trimestral | 65,00 €",
            "## | Total reclamado | 135,00 €",
            "",
            "Las comisiones por descubierto no proceden, ya que la cuenta no presentó saldo deudor "
            "en esas fechas, y la comisión de mantenimiento contradice las condiciones pactadas en "
            "el contrato de cuenta para pymes firmado el 12 de mayo de 2022, que establece su "
            "exención.",
            "Por ello, solicitamos la devolución de 135,00 € en un plazo máximo de quince días. En "
            "caso contrario, presentaremos reclamación ante el Servicio de Atención al Cliente de "
            "la entidad y, si fuera necesario, ante el Banco de España.",
            "Adjuntamos copia de los extractos de enero, febrero y marzo.",
            "",
            "Atentamente,",
            "Raúl Olmedo Sanz",
            "Administrador",
        ),
        queries=Queries(
            own_words=(
                "reclamación de Ferretería Hermanos Olmedo al Banco Meridional Castellano por "
                "comisiones por descubierto, devolución de 135,00 €"
            ),
            paraphrase_es=(
                "queja a la entidad financiera por cargos injustos en la cuenta de una tienda de "
                "herramientas"
            ),
            english="complaint letter to a bank asking for a refund of overdraft charges",
        ),
    ),
    # ----------------------------------------------------------------------------------------
    # Spanish rental contracts
    # ----------------------------------------------------------------------------------------
    Document(
        id="contrato-vivienda-madrid",
        language="es",
        kind="contrato_arrendamiento",
        title="CONTRATO DE ARRENDAMIENTO DE VIVIENDA",
        lines=(
            "En Madrid, a 1 de septiembre de 2024.",
            "## REUNIDOS",
            "De una parte, como ARRENDADOR, D. Antonio Gil Navarro, mayor de edad, con NIF "
            "50218734M y domicilio en C/ de Alcalá, 301, 28027 Madrid.",
            "De otra parte, como ARRENDATARIA, Dña. Marta Jiménez Roldán, mayor de edad, con NIF "
            "02764139E.",
            "## EXPONEN",
            "I. Que el arrendador es propietario de la vivienda situada en C/ de Embajadores, 112, "
            "3º B, 28045 Madrid, con referencia catastral 9821506VK4792B0012XY, de 75 m² útiles, "
            "con dos dormitorios, salón, cocina y un baño.",
            "II. Que la arrendataria desea ocupar dicha vivienda como residencia habitual y "
            "permanente, por lo que ambas partes acuerdan las siguientes",
            "## CLÁUSULAS",
            "PRIMERA. Objeto. El arrendador cede en arrendamiento a la arrendataria la vivienda "
            "descrita, que se entrega amueblada según el inventario anexo.",
            "SEGUNDA. Duración. El contrato tendrá una duración de un año desde el 1 de septiembre "
            "de 2024, prorrogable por plazos anuales hasta un mínimo de cinco años, conforme al "
            "artículo 9 de la Ley 29/1994 de Arrendamientos Urbanos.",
            "TERCERA. Renta. La renta es de 1.150,00 € mensuales, pagaderos dentro de los siete "
            "primeros días de cada mes mediante transferencia a la cuenta "
            "ES68 0182 4012 9102 0153 7764.",
            "CUARTA. Actualización. La renta se actualizará anualmente conforme al índice de "
            "referencia publicado por el INE, con el límite legal vigente.",
            "QUINTA. Fianza. A la firma, la arrendataria entrega 1.150,00 € en concepto de fianza "
            "legal, equivalente a una mensualidad, que se depositará en la Agencia de Vivienda "
            "Social de la Comunidad de Madrid.",
            PAGE_BREAK,
            "SEXTA. Gastos. Los gastos de comunidad y el IBI serán por cuenta del arrendador. Los "
            "suministros de agua, luz, gas e internet correrán por cuenta de la arrendataria.",
            "SÉPTIMA. Conservación y obras. La arrendataria no podrá realizar obras sin "
            "consentimiento escrito del arrendador. Las reparaciones necesarias para conservar la "
            "vivienda en condiciones de habitabilidad corresponden al arrendador.",
            "OCTAVA. Cesión y subarriendo. Queda prohibida la cesión del contrato y el "
            "subarriendo, total o parcial, sin autorización expresa del arrendador.",
            "NOVENA. Animales domésticos. Se autoriza la tenencia de un animal de compañía, "
            "respondiendo la arrendataria de los daños que pudiera causar.",
            "DÉCIMA. Desistimiento. La arrendataria podrá desistir del contrato transcurridos "
            "seis meses, con un preaviso mínimo de treinta días.",
            "",
            "Y en prueba de conformidad, firman el presente contrato por duplicado en el lugar y "
            "fecha indicados.",
            "",
            "EL ARRENDADOR | LA ARRENDATARIA",
            "Fdo.: Antonio Gil Navarro | Fdo.: Marta Jiménez Roldán",
        ),
        queries=Queries(
            own_words=(
                "contrato de arrendamiento de vivienda en C/ de Embajadores 112 Madrid, renta de "
                "1.150,00 € mensuales"
            ),
            paraphrase_es=(
                "acuerdo firmado con la inquilina del piso de dos habitaciones en la capital"
            ),
            english="residential lease for a two-bedroom flat in Madrid",
        ),
    ),
    Document(
        id="contrato-local-zaragoza",
        language="es",
        kind="contrato_arrendamiento",
        title="CONTRATO DE ARRENDAMIENTO DE LOCAL DE NEGOCIO",
        lines=(
            "En Zaragoza, a 15 de enero de 2025.",
            "## REUNIDOS",
            "De una parte, INVERSIONES EBRO PATRIMONIAL, S.L., con CIF B50739261 y domicilio "
            "social en Paseo de la Independencia, 19, 50001 Zaragoza, representada por D. Fernando "
            "Lacasa Martín como administrador único, en adelante la PARTE ARRENDADORA.",
            "De otra parte, Dña. Pilar Gómez Lasheras, con NIF 29581476A, que actúa en nombre "
            "propio como empresaria autónoma, en adelante la PARTE ARRENDATARIA.",
            "## ESTIPULACIONES",
            "1. Objeto. Se arrienda el local comercial sito en Paseo de Sagasta, 40, bajo, 50006 "
            "Zaragoza, de 120 m² construidos más 35 m² de altillo, con salida de humos y "
            "acometida trifásica.",
            "2. Destino. El local se destinará exclusivamente a obrador de pastelería y cafetería "
            "con venta al público. Cualquier cambio de actividad requerirá autorización escrita.",
            "3. Duración. El plazo de arrendamiento es de diez años a contar desde el 1 de febrero "
            "de 2025, sin prórroga tácita.",
            "4. Renta. La renta mensual es de 1.800,00 € más IVA (21 %), con la retención del 19 % "
            "a cuenta del IRPF: 1.800,00 € + 378,00 € - 342,00 € = 1.836,00 € a abonar cada mes.",
            "5. Carencia. Se conceden tres meses de carencia de renta para las obras de "
            "adecuación, que correrán por cuenta de la arrendataria previa licencia municipal.",
            "6. Actualización. La renta se actualizará cada 1 de febrero según la variación anual "
            "del IPC general.",
            PAGE_BREAK,
            "7. Fianza y garantías. La arrendataria entrega 3.600,00 € como fianza (dos "
            "mensualidades) y un aval bancario a primer requerimiento por 10.800,00 €, equivalente "
            "a seis mensualidades.",
            "8. Gastos y tributos. Serán por cuenta de la arrendataria la cuota de comunidad "
            "(95,00 € mensuales), el IBI y la tasa de basuras, que se repercutirán anualmente.",
            "9. Obras. Las mejoras realizadas quedarán en beneficio del local al término del "
            "contrato, sin derecho a indemnización, salvo pacto en contrario.",
            "10. Traspaso. La arrendataria podrá ceder el contrato en caso de traspaso del "
            "negocio, notificándolo por burofax con un mes de antelación.",
            "11. Rótulo. Se autoriza la instalación de un rótulo en fachada conforme a la "
            "ordenanza municipal.",
            "12. Jurisdicción. Las partes se someten a los Juzgados y Tribunales de Zaragoza.",
            "",
            "LA PARTE ARRENDADORA | LA PARTE ARRENDATARIA",
            "Fdo.: Fernando Lacasa Martín | Fdo.: Pilar Gómez Lasheras",
        ),
        queries=Queries(
            own_words=(
                "contrato de arrendamiento de local de negocio en Paseo de Sagasta 40 Zaragoza "
                "para obrador de pastelería y cafetería"
            ),
            paraphrase_es=(
                "alquiler de un bajo comercial para montar un negocio de dulces y cafés en Aragón"
            ),
            english="commercial lease for bakery and coffee shop premises in Zaragoza",
        ),
    ),
    Document(
        id="contrato-garaje-bilbao",
        language="es",
        kind="contrato_arrendamiento",
        title="CONTRATO DE ARRENDAMIENTO DE PLAZA DE GARAJE",
        lines=(
            "En Bilbao, a 3 de junio de 2024.",
            "ARRENDADOR: D. Iñaki Etxeberria Urrutia, NIF 16873524B, con domicilio en "
            "C/ Ercilla, 24, 4º, 48011 Bilbao.",
            "ARRENDATARIO: D. Jon Arana Solaun, NIF 30916247S, con domicilio en "
            "C/ Licenciado Poza, 55, 2º D, 48013 Bilbao.",
            "## CLÁUSULAS",
            "1. Objeto. El arrendador cede en arrendamiento la plaza de garaje nº 27, situada en "
            "la planta sótano -2 del edificio de C/ Licenciado Poza, 55, 48013 Bilbao, de 12 m², "
            "apta para un turismo.",
            "2. Duración. Un año desde el 1 de junio de 2024, prorrogable tácitamente por periodos "
            "anuales salvo preaviso de un mes por cualquiera de las partes.",
            "3. Renta. 110,00 € mensuales más IVA (21 %), 23,10 €: total mensual 133,10 €, "
            "que se abonará por domiciliación bancaria los cinco primeros días de cada mes.",
            "4. Fianza. El arrendatario entrega 110,00 €, equivalente a una mensualidad de renta.",
            "5. Uso. La plaza se destinará únicamente al estacionamiento del vehículo con "
            "matrícula 4821 KLM. Queda prohibido almacenar enseres, combustibles o materiales "
            "inflamables.",
            "6. Mandos y llaves. Se entregan un mando a distancia de la puerta automática y una "
            "llave del acceso peatonal. Su pérdida será a cargo del arrendatario (45,00 € por "
            "mando).",
            "7. Normativa aplicable. Este contrato se rige por el Código Civil y queda excluido "
            "de la Ley de Arrendamientos Urbanos.",
            "8. Responsabilidad. El arrendador no responde de robos o daños sufridos por el "
            "vehículo dentro del garaje.",
            "Leído el presente documento, ambas partes lo firman por duplicado.",
            "",
            "EL ARRENDADOR | EL ARRENDATARIO",
            "Fdo.: Iñaki Etxeberria Urrutia | Fdo.: Jon Arana Solaun",
        ),
        queries=Queries(
            own_words=(
                "contrato de arrendamiento de plaza de garaje nº 27 en C/ Licenciado Poza 55 Bilbao"
            ),
            paraphrase_es=(
                "alquilar un sitio cubierto para dejar el coche pagando cada mes, en el País Vasco"
            ),
            english="parking space rental agreement in Bilbao",
        ),
    ),
    # ----------------------------------------------------------------------------------------
    # Spanish, other kinds
    # ----------------------------------------------------------------------------------------
    Document(
        id="presupuesto-reforma-cocina",
        language="es",
        kind="presupuesto",
        title="PRESUPUESTO Nº 2025-017",
        lines=(
            "## REFORMAS INTEGRALES GUADALQUIVIR, S.L.",
            "CIF B14583920 · Avda. de América, 15 · 14008 Córdoba · Tel. 957 48 12 36",
            "",
            "Fecha: 24/02/2025 | Validez: 30 días",
            "Cliente: D. Javier Morales Peña · NIF 44190632L",
            "Dirección de la obra: C/ Cruz Conde, 19, 4º izda. · 14001 Córdoba",
            "Descripción: reforma integral de cocina de 11 m²",
            "",
            *_factura_table(
                [
                    (
                        "Demolición de alicatado y solado existente y retirada de escombros a "
                        "vertedero autorizado",
                        "11 m²",
                        "22,00",
                    ),
                    ("Nueva instalación de fontanería y desagües", "1", "640,00"),
                    (
                        "Instalación eléctrica: 6 enchufes, líneas de horno y placa, "
                        "iluminación LED empotrada",
                        "1",
                        "890,00",
                    ),
                    ("Solado con gres porcelánico rectificado 60x60", "11 m²", "48,00"),
                    ("Alicatado de paredes con azulejo blanco mate 30x60", "24 m²", "42,00"),
                    (
                        "Muebles de cocina lacados, bajos y altos, con herrajes de cierre suave",
                        "1",
                        "4.350,00",
                    ),
                    ("Encimera de cuarzo de 2 cm con fregadero bajo encimera", "4,2 ml", "310,00"),
                    ("Pintura de techo y paredes en blanco", "1", "260,00"),
                ],
                header="## Partida | Medición | Precio | Importe",
            ),
            PAGE_BREAK,
            "## CONDICIONES",
            "Electrodomésticos no incluidos.",
            "Plazo de ejecución: tres semanas desde la aceptación del presupuesto.",
            "Forma de pago: 40 % a la aceptación, 40 % a mitad de obra y 20 % a la finalización.",
            "Cualquier trabajo no incluido en este presupuesto se valorará aparte.",
            "Garantía de dos años en mano de obra y la del fabricante en los materiales.",
            "",
            "Aceptación del cliente (firma y fecha):",
        ),
        queries=Queries(
            own_words=(
                "presupuesto de Reformas Integrales Guadalquivir para reforma integral de cocina "
                "con encimera de cuarzo y muebles lacados"
            ),
            paraphrase_es=(
                "cuánto costaría renovar entera la cocina de casa antes de aceptar la obra"
            ),
            english="quote for a full kitchen renovation with a quartz worktop",
        ),
    ),
    Document(
        id="albaran-material-oficina",
        language="es",
        kind="albaran",
        title="ALBARÁN DE ENTREGA",
        lines=(
            "## PAPELERÍA TÉCNICA NAVARRA, S.L.",
            "CIF B31846207 · Polígono Landaben, calle E, 14 · 31012 Pamplona · Tel. 948 19 73 02",
            "",
            "Albarán nº: A-25-0342 | Fecha de entrega: 07/05/2025",
            "Pedido del cliente: PC-118 | Envío: furgoneta propia",
            "Cliente: Academia de Idiomas Babel, S.L. · CIF B71294635",
            "Dirección de entrega: Avda. de Pío XII, 31, 1º · 31008 Pamplona",
            "",
            "## Ref. | Descripción | Cantidad | Bultos",
            "PA-4080 | Papel A4 80 g/m², caja de 5 paquetes de 500 hojas | 10 cajas | 10",
            "TN-059A | Tóner HP 59A negro, original | 4 uds. | 1",
            "SL-ERG2 | Silla ergonómica de oficina con reposabrazos, negra | 3 uds. | 3",
            "AR-AZ4 | Archivador de palanca A4 lomo ancho, azul | 24 uds. | 2",
            "BO-C50 | Bolígrafos de tinta azul, caja de 50 | 5 cajas | 1",
            "NA-7676 | Notas adhesivas 76x76 mm, amarillas, pack de 12 | 6 packs | 1",
            "## | Total bultos | | 18",
            "",
            "Observaciones: las sillas se entregan montadas. Queda pendiente de servir 1 tóner "
            "HP 59A (sin existencias).",
            "Mercancía revisada y recibida en perfecto estado.",
            "Recibí conforme (nombre, DNI y firma): Ana Irigoyen Goñi, 72640185K",
            "Transportista: Koldo Zabaleta",
        ),
        queries=Queries(
            own_words=(
                "albarán de entrega de Papelería Técnica Navarra a Academia de Idiomas Babel: "
                "papel A4, tóner y sillas ergonómicas"
            ),
            paraphrase_es=(
                "comprobante firmado de que nos llegaron folios, cartuchos de impresora y asientos"
            ),
            english="delivery note for office supplies: paper, toner and chairs",
        ),
    ),
    # ----------------------------------------------------------------------------------------
    # English memos and invoices
    # ----------------------------------------------------------------------------------------
    Document(
        id="en-memo-hybrid-work",
        language="en",
        kind="memo",
        title="MEMORANDUM",
        lines=(
            "## Alvora Logistics Ibérica S.L.",
            "To: All staff, Madrid and Lisbon offices",
            "From: Helen Carter, HR Director",
            "Date: 3 February 2025",
            "Subject: New hybrid working policy from 1 March 2025",
            "",
            "Following the staff survey in December, the management committee has approved a new "
            "hybrid working policy. It replaces the temporary arrangements introduced in 2020.",
            "1. Office days. Everyone will work from the office three days a week, on Tuesday, "
            "Wednesday and Thursday. Monday and Friday may be worked from home.",
            "2. Core hours. Core hours are 10:00 to 16:00 (Lisbon 9:00 to 15:00). Meetings should "
            "be scheduled within these hours.",
            "3. Desk booking. Desks are no longer assigned. Please book a desk in the DeskFlow "
            "app by 18:00 on the previous day.",
            "4. Home office allowance. Staff working from home receive €30 per month towards "
            "internet and electricity, paid with the monthly salary.",
            "5. Equipment. Each employee may take home one monitor and a headset. Please request "
            "them through the IT service desk.",
            "6. Exceptions. Managers may approve additional remote days for medical or family "
            "reasons; these must be recorded in the HR portal.",
            "Team leaders will hold short briefings during the week of 17 February. Questions can "
            "be sent to the HR team through the HR portal.",
            "",
            "Helen Carter",
            "HR Director",
        ),
        queries=Queries(
            own_words=(
                "new hybrid working policy: office three days a week on Tuesday, Wednesday and "
                "Thursday, home office allowance"
            ),
            paraphrase_es=(
                "normas sobre cuántos días hay que ir a la oficina y cuándo se puede trabajar "
                "desde casa"
            ),
            english="rules on which days staff must come in and the allowance for remote work",
        ),
    ),
    Document(
        id="en-memo-travel-expenses",
        language="en",
        kind="memo",
        title="MEMO",
        lines=(
            "## Nortia Engineering Consultants",
            "To: All consultants and project managers",
            "From: David Okafor, Finance Manager",
            "Date: 14 October 2024",
            "Re: Updated travel and expense policy",
            "",
            "To keep project costs within budget, the following limits apply to all business "
            "travel booked from 1 November 2024:",
            "## Item | Limit",
            "Flights under 6 hours | Economy class only",
            "Flights over 6 hours | Premium economy with director approval",
            "Hotel in Madrid or Barcelona | €160 per night",
            "Hotel elsewhere in Spain | €120 per night",
            "Per diem for meals | €45 per day (€25 for half days)",
            "Private car mileage | €0.26 per km",
            "Taxis | Only when no public transport is available",
            "",
            "All trips must be booked through the TravelDesk portal at least 7 days in advance.",
            "Expense claims with itemised receipts must be submitted within 30 days of returning; "
            "claims older than 60 days will not be reimbursed.",
            "Alcohol, minibar and in-room films are not reimbursable.",
            "",
            "David Okafor",
            "Finance Manager",
        ),
        queries=Queries(
            own_words="updated travel and expense policy: hotel limits, per diem and receipts",
            paraphrase_es=(
                "cuánto se puede gastar en alojamiento y comidas en los desplazamientos de trabajo "
                "y cómo pedir que te devuelvan el dinero"
            ),
            english=(
                "what is the nightly cap for accommodation and the daily meal allowance on "
                "business trips"
            ),
        ),
    ),
    Document(
        id="en-memo-fire-drill",
        language="en",
        kind="memo",
        title="INTERNAL MEMO",
        lines=(
            "## Alvora Logistics Ibérica S.L. · Zaragoza Distribution Centre",
            "To: Warehouse, loading bay and office staff, all shifts",
            "From: Sergio Lapeña, Health & Safety Coordinator",
            "Date: 28 April 2025",
            "Subject: Fire drill on 12 May and forklift safety audit",
            "",
            "A full evacuation drill will take place on Monday 12 May 2025 at 10:30. The alarm "
            "will sound for about two minutes.",
            "When the alarm sounds, stop all forklifts and reach trucks, switch off engines and "
            "leave the keys in place.",
            "Leave by the nearest emergency exit and go to assembly point B in the staff car park. "
            "Do not use the loading bay doors.",
            "Shift supervisors will take a roll call with the daily attendance list and report to "
            "the fire wardens.",
            "The drill will be timed. Last year's evacuation took 6 minutes 40 seconds; our "
            "target is under 5 minutes.",
            "From 13 to 16 May an external auditor will inspect all forklifts, racking and "
            "battery charging areas.",
            "Following the near miss at loading bay 4 on 9 April, high-visibility vests and "
            "safety footwear are mandatory in all warehouse areas at all times.",
            "Pedestrian walkways will be repainted on 17 May; please keep them clear of pallets.",
            "",
            "Thank you for your cooperation.",
            "Sergio Lapeña",
            "Health & Safety Coordinator",
        ),
        queries=Queries(
            own_words="fire drill on 12 May and forklift safety audit at the Zaragoza warehouse",
            paraphrase_es=(
                "simulacro de evacuación por incendio en el almacén y revisión de las carretillas "
                "elevadoras"
            ),
            english="when is the emergency alarm practice and must we wear reflective jackets",
        ),
    ),
    Document(
        id="en-memo-office-move",
        language="en",
        kind="memo",
        title="MEMORANDUM",
        lines=(
            "## Quanta Media Studio",
            "To: All Barcelona staff",
            "From: Laura Méndez, Office Manager",
            "Date: 2 June 2025",
            "Subject: Office relocation to the 22@ district",
            "",
            "Our lease at Carrer de Balmes ends on 30 June. We are moving to our new office at "
            "Carrer de Pujades, 112, 4th floor, 08005 Barcelona.",
            "## Date | Activity",
            "Thursday 19 June | Packing crates delivered to every team",
            "Friday 20 June, 17:00 | IT shutdown: servers and desktops disconnected",
            "Saturday 21 June | Removal company moves furniture and equipment",
            "Monday 23 June | First working day at Carrer de Pujades",
            "",
            "Please label every crate with your name and desk number, and empty your lockers by "
            "Thursday evening. Personal items are not covered by the removal company's insurance.",
            "The new office has 60 desks, four meeting rooms, a terrace and bicycle parking. The "
            "nearest metro station is Llacuna (L4).",
            "There is no car parking on site; a discounted monthly rate has been agreed with the "
            "public car park on Carrer de Badajoz.",
            "New access cards will be handed out on Monday morning at reception.",
            "",
            "Laura Méndez",
            "Office Manager",
        ),
        queries=Queries(
            own_words="office relocation to the 22@ district, new office at Carrer de Pujades 112",
            paraphrase_es="cambio de sede de la empresa a otro barrio y fechas de la mudanza",
            english="when are we moving to the new premises and how should boxes be labelled",
        ),
    ),
    Document(
        id="en-invoice-translation",
        language="en",
        kind="invoice",
        title="INVOICE",
        lines=(
            "## Brightline Language Services Ltd",
            "14 Castle Street, Edinburgh EH2 3AH, United Kingdom · VAT Reg. GB 284 5531 67",
            "",
            "Invoice no.: BLS-2024-0619 | Date: 21 August 2024",
            "Bill to: Olivar del Sur Exportaciones, S.L. · CIF B23418659",
            "Polígono Los Olivares, C/ Baeza, 6 · 23009 Jaén, Spain",
            "Your ref.: PO 2024/77",
            "",
            *_invoice_table(
                [
                    (
                        "Translation ES>EN of exclusive distribution agreement (legal)",
                        "6,200 words",
                        "0.11",
                    ),
                    (
                        "Certified translation of company deeds and articles of association",
                        "2 docs",
                        "145.00",
                    ),
                    (
                        "Proofreading of English product catalogue (olive oil range)",
                        "3.5 h",
                        "38.00",
                    ),
                    ("Remote interpreting, video call with UK importer", "2 h", "65.00"),
                ],
                symbol="£",
                vat_label="VAT (outside the scope of UK VAT)",
            ),
            "",
            "Services supplied to a business customer in Spain: the customer accounts for "
            "Spanish VAT under the reverse charge.",
            "Payment terms: 30 days by bank transfer. IBAN GB33 BUKB 2020 1555 5555 55",
            "Thank you for your business.",
        ),
        queries=Queries(
            own_words=(
                "Brightline Language Services invoice for translation of exclusive distribution "
                "agreement and certified translation of company deeds"
            ),
            paraphrase_es=(
                "factura de la agencia escocesa por pasar nuestros documentos al inglés, incluidas "
                "las escrituras con traducción jurada"
            ),
            english="bill from the Edinburgh agency for turning our legal paperwork into English",
        ),
    ),
    Document(
        id="en-invoice-trade-fair",
        language="en",
        kind="invoice",
        title="INVOICE",
        lines=(
            "## Harbour Exhibition Design Ltd",
            "Unit 5, Docklands Innovation Park, East Wall Road, Dublin 3, Ireland",
            "VAT IE 6388047V",
            "",
            "Invoice no.: HED-1187 | Date: 28 March 2025",
            "Customer: Bodegas Ribera Alta, S.L. · VAT ID ESB09537246",
            "Ctra. de Burgos, km 1,8 · 09400 Aranda de Duero (Burgos), Spain",
            "Project: ProWein 2025, Düsseldorf, Hall 10, stand E42 (16-18 March 2025)",
            "",
            *_invoice_table(
                [
                    ("Design and build of 24 m² island stand, timber and fabric", "1", "6900.00"),
                    ("Large-format printed graphics and backlit wine wall", "1", "1850.00"),
                    ("LED lighting and electrical installation", "1", "720.00"),
                    ("Furniture hire: bar counter, 4 high tables, 12 stools", "1", "980.00"),
                    ("On-site assembly and dismantling (2 technicians, 4 days)", "64 h", "42.00"),
                    ("Transport of stand materials Dublin - Düsseldorf - Dublin", "1", "1150.00"),
                ],
                symbol="€",
                vat_label="VAT (reverse charge)",
            ),
            "",
            "VAT reverse charge: Article 196, Council Directive 2006/112/EC.",
            "50 % deposit received on 10 February 2025 (€7,144.00). Balance of €7,144.00 due "
            "within 14 days.",
            "IBAN IE29 AIBK 9311 5212 3456 78 · BIC AIBKIE2D",
        ),
        queries=Queries(
            own_words=(
                "Harbour Exhibition Design invoice for design and build of island stand at "
                "ProWein 2025 Düsseldorf"
            ),
            paraphrase_es=(
                "factura del montaje del puesto de exposición en la feria de vinos de Alemania"
            ),
            english="bill for building our booth at the wine trade show in Germany",
        ),
    ),
)

DOCUMENTS_BY_ID: dict[str, Document] = {doc.id: doc for doc in DOCUMENTS}


@dataclass(frozen=True)
class Query:
    """One evaluation query, flattened for a harness: its text and its single correct doc."""

    id: str
    kind: QueryKind
    text: str
    doc_id: str


def iter_queries() -> Iterator[Query]:
    """All 72 queries in a stable order (document order, then own/paraphrase/english)."""
    for doc in DOCUMENTS:
        for kind in QUERY_KINDS:
            yield Query(f"{doc.id}:{kind}", kind, getattr(doc.queries, kind), doc.id)


_WORD = re.compile(r"[0-9a-záéíóúüñç]+(?:[.,][0-9]+)*", re.IGNORECASE)
_AMOUNT = re.compile(r"\d{1,3}(?:\.\d{3})*,\d{2} €")


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if len(w) > 3 or w[0].isdigit()}


def validate() -> None:
    """Check the set's invariants, so an edit cannot silently break the evaluation.

    Structural: 24 unique documents with the promised mix, 10-30 body lines each, near-duplicates
    pointing at a document of the same kind. Queries: the amounts an own-words query quotes are
    in its document, and by plain word overlap an own-words query matches its own document more
    than any other (a check of the data's consistency, not a search result).
    """
    assert len(DOCUMENTS) == 24, len(DOCUMENTS)
    assert len(DOCUMENTS_BY_ID) == len(DOCUMENTS), "duplicate ids"
    mix = Counter((doc.language, doc.kind) for doc in DOCUMENTS)
    assert mix[("es", "factura")] == 10 and mix[("es", "carta")] == 3, mix
    assert mix[("es", "contrato_arrendamiento")] == 3, mix
    assert sum(n for (lang, _), n in mix.items() if lang == "en") == 6, mix
    assert sum(1 for doc in DOCUMENTS if doc.near_duplicate_of) == 4
    assert sum(1 for doc in DOCUMENTS if len(doc.pages) == 2) == 4
    word_sets = {doc.id: _words(doc.text) for doc in DOCUMENTS}
    for doc in DOCUMENTS:
        assert 10 <= len(doc.content_lines) <= 30, (doc.id, len(doc.content_lines))
        assert len(doc.pages) <= 2 and all(doc.pages), doc.id
        if doc.near_duplicate_of:
            original = DOCUMENTS_BY_ID[doc.near_duplicate_of]
            assert original.kind == doc.kind and not original.near_duplicate_of, doc.id
        for kind in QUERY_KINDS:
            assert getattr(doc.queries, kind).strip(), (doc.id, kind)
        for amount in _AMOUNT.findall(doc.queries.own_words):
            assert amount in doc.text, (doc.id, amount)
        query_words = _words(doc.queries.own_words)
        overlap = {other: len(query_words & words) for other, words in word_sets.items()}
        best = max(overlap, key=overlap.__getitem__)
        runner_up = max(n for other, n in overlap.items() if other != doc.id)
        assert best == doc.id and overlap[doc.id] > runner_up, (doc.id, overlap)


if __name__ == "__main__":
    validate()
    print(f"{len(DOCUMENTS)} documents, {sum(1 for _ in iter_queries())} queries: OK")
