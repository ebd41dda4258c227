"""DuckDB warehouse: connection, SQL files, migrations, result writes and exports."""
