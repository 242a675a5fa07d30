#!/usr/bin/env bash
# The main job on a bare machine: install, start kairo-ray (local Ray cluster, embedded PostgreSQL
# with pgvector unless DATABASE_URL is set, offline models), process real documents, search them.
#
#   bash scripts/quickstart.sh                 # sample scans from ../shared/eval
#   bash scripts/quickstart.sh a.pdf b.jpg     # your own files
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
if [ -z "${VIRTUAL_ENV:-}" ] && [ -x .venv/bin/kairo-ray ]; then export PATH="$PWD/.venv/bin:$PATH"; fi

eval_dir="${KAIRO_EVAL_DIR:-../shared/eval}"
if [ "$#" -gt 0 ]; then
  documents=("$@")
else
  documents=(
    "$eval_dir/multipage_pdfs/fondue_galdos_luchana_5p.pdf"
    "$eval_dir/es_fondue_print19/aquiles_sioen_buenos_aires_en_el__Buenos_Aires_en_el_ano_2080_p112.png"
    "$eval_dir/en_tesseract_testing/phototest.tif"
  )
  for document in "${documents[@]}"; do
    if [ ! -f "$document" ]; then
      echo "sample $document not found: pass your own files (bash scripts/quickstart.sh FILE...)" >&2
      exit 2
    fi
  done
fi

kairo-ray up
kairo-ray submit --wait "${documents[@]}"
echo
echo 'kairo-ray search "las tropas del general"'
kairo-ray search "las tropas del general" -k 3
echo
echo 'kairo-ray search "quick brown dog"'
kairo-ray search "quick brown dog" -k 3
echo
kairo-ray status
echo
echo "Running. API: http://127.0.0.1:${API_PORT:-8000}/docs   dashboard: http://127.0.0.1:8265"
echo "Stop everything with: kairo-ray down"
