import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # snippets.py
sys.path.insert(0, str(HERE.parents[1] / "tools"))  # docs_reference.py
