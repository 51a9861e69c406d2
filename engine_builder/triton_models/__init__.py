"""Python-backend model sources copied into published repositories (they run only inside Triton)."""
