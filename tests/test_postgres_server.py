"""The suite's PostgreSQL is a real server, reached over TCP with a password."""

import psycopg
import pytest


def test_server_is_a_real_postgresql(postgres_server):
    with postgres_server.connect() as con:
        version = con.execute("select version()").fetchone()[0]
        # Something only a real server has: its own process id and data directory.
        pid = con.execute("select pg_backend_pid()").fetchone()[0]
        data_directory = con.execute("show data_directory").fetchone()[0]
    assert version.startswith("PostgreSQL ")
    assert pid > 0
    assert data_directory == str(postgres_server.data)


def test_a_wrong_password_is_refused(postgres_server):
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host=postgres_server.host, port=postgres_server.port, user=postgres_server.user,
                        password="not-" + postgres_server.password, dbname="postgres").close()


def test_each_test_gets_its_own_database(postgres_warehouse, postgres_server):
    with postgres_server.connect(postgres_warehouse) as con:
        assert con.execute("select current_database()").fetchone()[0] == postgres_warehouse
        assert con.execute("select count(*) from pg_tables where schemaname = 'raw'").fetchone()[0] == 0
