"""External tasks served by workers over Camunda's REST API (SPEC §12): typed variables, the task records kept
in the store, fetch-and-lock with long polling, and the bell that wakes idle long polls."""
