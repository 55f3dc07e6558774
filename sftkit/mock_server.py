"""Kept so `python -m sftkit.mock_server` still starts the stand-in; it lives in sftkit/demo/.

Usage:
    python -m sftkit.mock_server --data_dir data --port 8000
"""

from sftkit.demo.mock_server import main

if __name__ == "__main__":
    raise SystemExit(main())
