"""The probe texts: one es / it / en sample, short and long, that frasi embeds to compare models.

An export is checked against torch on them before it is kept, ``frasi backends check``
compares every backend on them, and a saved classifier stores the embeddings of the
first few, so loading it with an encoder that embeds differently is refused.
"""

from __future__ import annotations

_LONG = " ".join(
    "La ciudad despertó temprano aquella mañana de otoño. Los comerciantes abrían sus tiendas mientras los "
    "niños caminaban hacia la escuela con las mochilas a la espalda, y en la plaza principal un grupo de "
    "músicos afinaba sus instrumentos para el concierto de la tarde.".split() * 4)

PROBE_TEXTS: tuple[str, ...] = (
    "El tren sale de la estación a las ocho.",
    "Il gatto dorme sul divano.",
    "The weather is lovely today.",
    "hola mundo",
    "¿Dónde está la estación de tren?",
    "La estación está a dos calles de aquí, al lado del mercado central.",
    "Me gusta el chocolate, pero prefiero el helado de limón en verano.",
    "El gobierno anunció nuevas medidas para reducir el desempleo juvenil en las zonas rurales.",
    "Domani andiamo al mare se il tempo è bello.",
    "La riunione è stata rinviata a giovedì prossimo per motivi organizzativi.",
    "Ho letto un libro molto interessante sulla storia dell'arte rinascimentale italiana.",
    "The stock market fell sharply today after the announcement.",
    "A man is playing a guitar on the street.",
    "Scientists have discovered a new species of frog in the rainforest of Ecuador.",
    "ok",
    "Please send me the report by Friday afternoon, including the figures for the third quarter.",
    _LONG,
)
"""The sample, short texts first and one text of 176 words last."""

SHORT_PROBES: tuple[str, ...] = PROBE_TEXTS[:3]
"""The first three: what a saved classifier keeps the embeddings of."""
