"""Learning algorithms: MAIRL (Algorithm 1) and the adversarial baselines."""

#: the adversarial methods by name (``adversarial.METHODS`` pairs each with its discriminator
#: and learner); here, without torch, so the CLI's parser is built without importing it
METHOD_NAMES = ("mairl", "mgail", "airl-sac", "airl", "gail", "gan-gcl")
#: what `mairl train --algo` trains: an adversarial method or behaviour cloning
ALGOS = (*METHOD_NAMES, "bc")
