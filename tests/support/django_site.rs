//! The Django fixture (`django`): a production-like Django site from PyPI that
//! loads most of what it needs lazily. Two apps (`blog`, `shop`), the admin with a
//! superuser, templates rendered only by their own URLs, a template tag library used by
//! one template, English and French (URL prefix and `Accept-Language`), time zones, custom
//! 404 and 500 pages, static files collected for whitenoise, and a management command.
//!
//! `django-base` is Debian's python3 (with venv, gettext for `compilemessages`, the CA
//! store and tzdata) plus the site's sources in `/app`, from `tests/fixtures/django-site/`;
//! `django` is built on it with `docker build`: Django, gunicorn and whitenoise installed
//! from PyPI into `/opt/venv`, messages compiled, static files collected, the database
//! migrated and the superuser created, all at image build time.

use crate::derived::Derived;
use crate::recipe::{Base, DEFAULT_PATH, Entry, ImageConfig, Recipe};

/// The port gunicorn listens on.
pub const DJANGO_PORT: u16 = 8000;

/// The superuser the image is built with: (user name, password).
pub const DJANGO_ADMIN: (&str, &str) = ("admin", "slim-admin-password");

/// The Django site, under `/app`: (relative path, bytes).
pub const DJANGO_SITE: &[(&str, &[u8])] = &[
    (
        "blog/__init__.py",
        include_bytes!("../fixtures/django-site/blog/__init__.py"),
    ),
    (
        "blog/admin.py",
        include_bytes!("../fixtures/django-site/blog/admin.py"),
    ),
    (
        "blog/apps.py",
        include_bytes!("../fixtures/django-site/blog/apps.py"),
    ),
    (
        "blog/data/motd.txt",
        include_bytes!("../fixtures/django-site/blog/data/motd.txt"),
    ),
    (
        "blog/locale/fr/LC_MESSAGES/django.po",
        include_bytes!("../fixtures/django-site/blog/locale/fr/LC_MESSAGES/django.po"),
    ),
    (
        "blog/management/__init__.py",
        include_bytes!("../fixtures/django-site/blog/management/__init__.py"),
    ),
    (
        "blog/management/commands/__init__.py",
        include_bytes!("../fixtures/django-site/blog/management/commands/__init__.py"),
    ),
    (
        "blog/management/commands/hello.py",
        include_bytes!("../fixtures/django-site/blog/management/commands/hello.py"),
    ),
    (
        "blog/migrations/0001_initial.py",
        include_bytes!("../fixtures/django-site/blog/migrations/0001_initial.py"),
    ),
    (
        "blog/migrations/__init__.py",
        include_bytes!("../fixtures/django-site/blog/migrations/__init__.py"),
    ),
    (
        "blog/models.py",
        include_bytes!("../fixtures/django-site/blog/models.py"),
    ),
    (
        "blog/static/blog/css/blog.css",
        include_bytes!("../fixtures/django-site/blog/static/blog/css/blog.css"),
    ),
    (
        "blog/templates/blog/hello.txt",
        include_bytes!("../fixtures/django-site/blog/templates/blog/hello.txt"),
    ),
    (
        "blog/templates/blog/index.html",
        include_bytes!("../fixtures/django-site/blog/templates/blog/index.html"),
    ),
    (
        "blog/urls.py",
        include_bytes!("../fixtures/django-site/blog/urls.py"),
    ),
    (
        "blog/views.py",
        include_bytes!("../fixtures/django-site/blog/views.py"),
    ),
    (
        "manage.py",
        include_bytes!("../fixtures/django-site/manage.py"),
    ),
    (
        "mysite/__init__.py",
        include_bytes!("../fixtures/django-site/mysite/__init__.py"),
    ),
    (
        "mysite/locale/fr/LC_MESSAGES/django.po",
        include_bytes!("../fixtures/django-site/mysite/locale/fr/LC_MESSAGES/django.po"),
    ),
    (
        "mysite/settings.py",
        include_bytes!("../fixtures/django-site/mysite/settings.py"),
    ),
    (
        "mysite/static/site/css/site.css",
        include_bytes!("../fixtures/django-site/mysite/static/site/css/site.css"),
    ),
    (
        "mysite/templates/404.html",
        include_bytes!("../fixtures/django-site/mysite/templates/404.html"),
    ),
    (
        "mysite/templates/500.html",
        include_bytes!("../fixtures/django-site/mysite/templates/500.html"),
    ),
    (
        "mysite/templates/base.html",
        include_bytes!("../fixtures/django-site/mysite/templates/base.html"),
    ),
    (
        "mysite/templates/home.html",
        include_bytes!("../fixtures/django-site/mysite/templates/home.html"),
    ),
    (
        "mysite/templates/timezone.html",
        include_bytes!("../fixtures/django-site/mysite/templates/timezone.html"),
    ),
    (
        "mysite/urls.py",
        include_bytes!("../fixtures/django-site/mysite/urls.py"),
    ),
    (
        "mysite/views.py",
        include_bytes!("../fixtures/django-site/mysite/views.py"),
    ),
    (
        "mysite/wsgi.py",
        include_bytes!("../fixtures/django-site/mysite/wsgi.py"),
    ),
    (
        "shop/__init__.py",
        include_bytes!("../fixtures/django-site/shop/__init__.py"),
    ),
    (
        "shop/admin.py",
        include_bytes!("../fixtures/django-site/shop/admin.py"),
    ),
    (
        "shop/apps.py",
        include_bytes!("../fixtures/django-site/shop/apps.py"),
    ),
    (
        "shop/locale/fr/LC_MESSAGES/django.po",
        include_bytes!("../fixtures/django-site/shop/locale/fr/LC_MESSAGES/django.po"),
    ),
    (
        "shop/migrations/0001_initial.py",
        include_bytes!("../fixtures/django-site/shop/migrations/0001_initial.py"),
    ),
    (
        "shop/migrations/__init__.py",
        include_bytes!("../fixtures/django-site/shop/migrations/__init__.py"),
    ),
    (
        "shop/models.py",
        include_bytes!("../fixtures/django-site/shop/models.py"),
    ),
    (
        "shop/static/shop/css/shop.css",
        include_bytes!("../fixtures/django-site/shop/static/shop/css/shop.css"),
    ),
    (
        "shop/templates/shop/index.html",
        include_bytes!("../fixtures/django-site/shop/templates/shop/index.html"),
    ),
    (
        "shop/templatetags/__init__.py",
        include_bytes!("../fixtures/django-site/shop/templatetags/__init__.py"),
    ),
    (
        "shop/templatetags/shop_extras.py",
        include_bytes!("../fixtures/django-site/shop/templatetags/shop_extras.py"),
    ),
    (
        "shop/urls.py",
        include_bytes!("../fixtures/django-site/shop/urls.py"),
    ),
    (
        "shop/views.py",
        include_bytes!("../fixtures/django-site/shop/views.py"),
    ),
];

/// Debian packages of `django-base`.
const PACKAGES: &[&str] = &[
    "python3",
    "python3-venv",
    "gettext",
    "ca-certificates",
    "tzdata",
];

/// The recipe of `django-base`, if that is `name`.
pub fn recipe(name: &str) -> Option<Recipe> {
    if name != "django-base" {
        return None;
    }
    let mut files = vec![Entry::dir("/app", 0o755)];
    let mut dirs: Vec<String> = DJANGO_SITE
        .iter()
        .flat_map(|(path, _)| {
            let parts: Vec<&str> = path.split('/').collect();
            (1..parts.len())
                .map(|n| format!("/app/{}", parts[..n].join("/")))
                .collect::<Vec<_>>()
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    files.extend(dirs.iter().map(|dir| Entry::dir(dir, 0o755)));
    files.extend(DJANGO_SITE.iter().map(|(path, bytes)| {
        let mode = if *path == "manage.py" { 0o755 } else { 0o644 };
        Entry::file(&format!("/app/{path}"), mode, *bytes)
    }));
    Some(Recipe {
        name: name.into(),
        base: Base::bookworm_minbase(),
        packages: PACKAGES.iter().map(|p| (*p).to_string()).collect(),
        files,
        config: ImageConfig {
            cmd: Some(vec!["python3".into(), "--version".into()]),
            env: vec![("PATH".to_string(), DEFAULT_PATH.to_string())],
            working_dir: Some("/app".into()),
            ..ImageConfig::default()
        },
    })
}

/// What `django` installs from PyPI: exact versions with their SHA-256, dependencies
/// included, so pip checks every wheel itself (`--require-hashes`).
const REQUIREMENTS: &[(&str, &str)] = &[
    (
        "Django==5.2.19",
        "5965d974a5218a2b68a11dd1276434707f23886525c23f0598eccedaf4f4ca00",
    ),
    (
        "asgiref==3.13.0",
        "f9596a2434512686473d50f96ff6207fbba49ae1a785dfac614df4aeb085674d",
    ),
    (
        "sqlparse==0.6.1",
        "3be5a72d04c873d690d7c6dedd33d6fae2ef82759881ceec02fc2efd0cba564f",
    ),
    (
        "gunicorn==23.0.0",
        "ec400d38950de4dfd418cff8328b2c8faed0edb0d517d3394e457c317908ca4d",
    ),
    (
        "packaging==26.3",
        "d7193f7c8e4e93f444fde0262bf90af30e16fa0ad0ad44cb553c87339b23cd1c",
    ),
    (
        "whitenoise==6.12.0",
        "fc5e8c572e33ebf24795b47b6a7da8da3c00cff2349f5b04c02f28d0cc5a3cc2",
    ),
];

/// The derived fixture `django`, if that is `name`.
pub fn derived(name: &str) -> Option<Derived> {
    if name != "django" {
        return None;
    }
    let requirements: Vec<String> = REQUIREMENTS
        .iter()
        .map(|(pin, sha)| format!("'{pin} --hash=sha256:{sha}'"))
        .collect();
    Some(Derived {
        name: name.into(),
        from: "django-base".into(),
        // The build may sit behind a TLS-intercepting proxy whose CA the image lacks, so
        // pip trusts the PyPI hosts' certificates; the wheels' hashes are checked anyway.
        // gunicorn `--preload` opens its port only once Django is loaded, so the first
        // request is answered at once, however slow the machine.
        dockerfile: format!(
            r#"RUN printf '%s\n' {requirements} > /tmp/requirements.txt \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --only-binary :all: \
    --trusted-host pypi.org --trusted-host files.pythonhosted.org \
    --require-hashes -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt
ENV PATH=/opt/venv/bin:{DEFAULT_PATH} DJANGO_SETTINGS_MODULE=mysite.settings PYTHONUNBUFFERED=1
WORKDIR /app
RUN python manage.py compilemessages \
 && python manage.py collectstatic --noinput \
 && python manage.py migrate --noinput \
 && DJANGO_SUPERUSER_PASSWORD={password} python manage.py createsuperuser --noinput \
    --username {user} --email {user}@example.com
EXPOSE {DJANGO_PORT}
CMD ["gunicorn", "--preload", "--bind", "0.0.0.0:{DJANGO_PORT}", "--workers", "2", "--access-logfile", "-", "mysite.wsgi"]"#,
            requirements = requirements.join(" "),
            user = DJANGO_ADMIN.0,
            password = DJANGO_ADMIN.1,
        ),
    })
}
