"""Neural networks: policies, AIRL reward, discriminators, forward dynamics models."""
