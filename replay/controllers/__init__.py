"""Controllers, one a file: ``simple`` (a script), ``stochastic`` (the model), ``trace`` (recorded users)."""
