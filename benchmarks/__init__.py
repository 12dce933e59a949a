"""linedesk's benchmarks: run on demand (`python -m benchmarks`), never part of CI's pass/fail."""
