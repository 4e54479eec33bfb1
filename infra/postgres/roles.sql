-- Accord database roles. Run as an admin against the application database:
--   psql -v ON_ERROR_STOP=1 -d accord -f infra/postgres/roles.sql
-- Optional psql variables owner_password / app_password set login passwords
-- (infra/postgres-roles.sh fills them from the environment). Safe to re-run.
--
-- accord_owner: owns the schema objects and runs the migrations.
-- accord_app:   what the application logs in as. Row-level security is
--               skipped for superusers, BYPASSRLS roles and table owners
--               (unless FORCE), so this role must be none of those.
-- Table grants to accord_app are made by the migrations, not here.

\set ON_ERROR_STOP on

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'accord_owner') THEN
    CREATE ROLE accord_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'accord_app') THEN
    CREATE ROLE accord_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;
  END IF;

  -- Re-assert attributes only when they drifted: altering SUPERUSER/BYPASSRLS
  -- at all needs a real superuser, which managed services do not hand out.
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'accord_owner'
             AND (rolsuper OR NOT rolcanlogin)) THEN
    ALTER ROLE accord_owner LOGIN NOSUPERUSER;
  END IF;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'accord_app'
             AND (rolsuper OR rolbypassrls OR rolcreatedb OR rolcreaterole
                  OR rolreplication OR NOT rolcanlogin)) THEN
    ALTER ROLE accord_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;
  END IF;

  -- Membership in the owner role would count as ownership for RLS.
  IF pg_has_role('accord_app', 'accord_owner', 'MEMBER') THEN
    REVOKE accord_owner FROM accord_app;
  END IF;
END
$$;

-- A table owned by accord_app would silently escape its RLS policies.
DO $$
DECLARE
  n integer;
BEGIN
  SELECT count(*) INTO n FROM pg_class c
   WHERE c.relowner = 'accord_app'::regrole
     AND c.relnamespace NOT IN (SELECT oid FROM pg_namespace
                                WHERE nspname LIKE 'pg\_%' OR nspname = 'information_schema');
  IF n > 0 OR EXISTS (SELECT FROM pg_namespace WHERE nspowner = 'accord_app'::regrole) THEN
    RAISE EXCEPTION 'accord_app owns % relation(s) or a schema in database %', n, current_database()
      USING HINT = 'REASSIGN OWNED BY accord_app TO accord_owner;';
  END IF;
END
$$;

DO $$
BEGIN
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO accord_owner, accord_app', current_database());
END
$$;

-- Before PostgreSQL 15 every role could create in public; only the owner may.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO accord_owner;
GRANT USAGE ON SCHEMA public TO accord_app;

-- Passwords: set when given, otherwise left as they are (none on a new role,
-- which suits trust-auth dev machines).
\if :{?owner_password}
SELECT :'owner_password' <> '' AS accord_has_owner_password \gset
\if :accord_has_owner_password
ALTER ROLE accord_owner PASSWORD :'owner_password';
\endif
\endif
\if :{?app_password}
SELECT :'app_password' <> '' AS accord_has_app_password \gset
\if :accord_has_app_password
ALTER ROLE accord_app PASSWORD :'app_password';
\endif
\endif
