"""Learning algorithms: MAIRL (Algorithm 1) and the adversarial baselines."""
