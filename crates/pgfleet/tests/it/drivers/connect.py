"""Connects through one Python driver with the exported DATABASE_URL, as a service would, and
prints the first column of QUERY's first row. Usage: connect.py DRIVER QUERY"""

import asyncio
import os
import sys

driver, query = sys.argv[1], sys.argv[2]
url = os.environ["DATABASE_URL"]


async def with_asyncpg():
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


async def with_sqlalchemy_async():
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(query))).scalar_one()
    finally:
        await engine.dispose()


def with_psycopg():
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchone()[0]


def with_sqlalchemy():
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(query)).scalar_one()
    finally:
        engine.dispose()


def with_django():
    import django
    import dj_database_url
    from django.conf import settings

    settings.configure(DATABASES={"default": dj_database_url.parse(url)})
    django.setup()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(query)
        return cursor.fetchone()[0]


run = {
    "asyncpg": lambda: asyncio.run(with_asyncpg()),
    "sqlalchemy+asyncpg": lambda: asyncio.run(with_sqlalchemy_async()),
    "psycopg": with_psycopg,
    "sqlalchemy+psycopg": with_sqlalchemy,
    "django": with_django,
}[driver]
print(run())
