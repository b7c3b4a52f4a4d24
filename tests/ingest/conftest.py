import sys
from pathlib import Path

# population.py (the shared test population and its writers) sits beside the tests
sys.path.insert(0, str(Path(__file__).parent))
