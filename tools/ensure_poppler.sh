#!/bin/bash
# Make poppler-utils (pdfinfo, pdftotext, pdfimages) available for the PDF edition's test, installing it when we may.
set -euo pipefail
if command -v pdftotext >/dev/null && command -v pdfinfo >/dev/null && command -v pdfimages >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing poppler-utils with apt-get (the PDF test reads the PDF with it)..."
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null && command -v apt-get >/dev/null; then
  echo "Installing poppler-utils with sudo apt-get (the PDF test reads the PDF with it)..."
  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null
else
  echo "NOTE: poppler-utils not found and cannot be installed here; the PDF test will be skipped (it fails when CI is set)." >&2
fi
