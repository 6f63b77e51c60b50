#include "configguard.h"

#include "engine/enginesettings.h"
#include "redactor.h"

#include <QCoreApplication>
#include <QFile>
#include <QStringList>

#include <openssl/crypto.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("ConfigGuard", text); }

// Enough for any key file; a longer file is judged by its beginning.
constexpr qsizetype MaxSecretRead = 64 * 1024;
constexpr qsizetype MinSecretLength = 32;
// Random secrets of 32 bytes or more use far more distinct characters; a
// pattern such as "abababab..." or "0101..." does not.
constexpr int MinDistinctCharacters = 4;

// Kept as written by whoever chose the path, apart from being one line.
QString shown(const QString &path) { return Redactor::escapeControls(path); }

// The fix is a command to paste into a shell, so the path must survive one.
QString shellQuoted(const QString &path)
{
    bool plain = !path.isEmpty();
    for (const QChar c : path) {
        const char16_t u = c.unicode();
        plain = plain && u < 128 &&
                ((u >= u'a' && u <= u'z') || (u >= u'A' && u <= u'Z') || (u >= u'0' && u <= u'9') ||
                 QStringView(u"/._-+:@%,=").contains(c));
    }
    if (plain)
        return path;
    // '"'"' rather than '\'' for an embedded quote: escapeControls would
    // double the backslash.
    QString quoted = path;
    quoted.replace(u'\'', QStringLiteral("'\"'\"'"));
    return Redactor::escapeControls(QStringLiteral("'%1'").arg(quoted));
}

QString chmodFix(const QString &path)
{
    return QStringLiteral("chmod 600 %1").arg(shellQuoted(path));
}

QString generateFix(const QString &path)
{
    return tr("replace it with a random secret, e.g. openssl rand -hex 32 > %1")
        .arg(shellQuoted(path));
}

QString modeText(mode_t mode) { return QStringLiteral("%1").arg(mode & 07777, 4, 8, QChar(u'0')); }

void wipe(QByteArray &bytes)
{
    if (!bytes.isEmpty())
        OPENSSL_cleanse(bytes.data(), static_cast<size_t>(bytes.size()));
    bytes.clear();
}

bool looksLikePlaceholder(const QByteArray &content)
{
    // "change-me", "Change_Me" and "change me" are the same placeholder.
    QByteArray folded;
    folded.reserve(content.size());
    for (const char c : content) {
        if (c != '-' && c != '_' && c != ' ')
            folded += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    bool found = false;
    for (const char *word :
         {"changeme", "replaceme", "example", "placeholder", "secret", "password", "xxxx"})
        found = found || folded.contains(word);
    wipe(folded);
    return found;
}

int distinctBytes(const QByteArray &content)
{
    bool seen[256] = {};
    int count = 0;
    for (const char c : content) {
        bool &slot = seen[static_cast<unsigned char>(c)];
        count += slot ? 0 : 1;
        slot = true;
    }
    return count;
}

enum class Kind { Secret, TlsPrivateKey, TlsCertificate };

struct FileToCheck {
    QString name; // "[api] tls_private_key", "store key file", "API-key pepper"
    QString path;
    Kind kind = Kind::Secret;
    bool mayBeMissing = false;
    QString weakContentFix;
};

struct ReadSecret {
    QString name;
    QString path;
    QByteArray content;
};

class Checker {
public:
    QList<ConfigGuard::Problem> problems;
    QList<ReadSecret> secrets; // readable, not weak: compared with each other

    ~Checker()
    {
        for (ReadSecret &secret : secrets)
            wipe(secret.content);
    }

    void add(const QString &problem, const QString &fix) { problems.append({problem, fix}); }

    void checkFile(const FileToCheck &file)
    {
        // O_NONBLOCK: a FIFO put in place of a key file must not hang startup.
        const int fd = ::open(QFile::encodeName(file.path).constData(),
                              O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
            reportOpenError(file, errno);
            return;
        }
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            ::close(fd);
            add(tr("%1 %2 is not a regular file").arg(file.name, shown(file.path)),
                tr("point %1 at a regular file").arg(file.name));
            return;
        }
        const mode_t mode = st.st_mode;
        if (file.kind == Kind::TlsPrivateKey && (mode & S_IROTH)) {
            add(tr("%1 %2 is readable by every user on this machine (mode %3): any of them "
                   "could impersonate the API server")
                    .arg(file.name, shown(file.path), modeText(mode)),
                chmodFix(file.path));
        } else if (file.kind != Kind::TlsCertificate && (mode & (S_IRWXG | S_IRWXO))) {
            add(tr("%1 %2 can be read or changed by group or others (mode %3)")
                    .arg(file.name, shown(file.path), modeText(mode)),
                chmodFix(file.path));
        }
        if (file.kind == Kind::Secret)
            checkContent(file, fd);
        ::close(fd);
    }

private:
    void reportOpenError(const FileToCheck &file, int error)
    {
        if (error == ENOENT) {
            if (file.mayBeMissing)
                return;
            add(tr("%1 %2 does not exist").arg(file.name, shown(file.path)),
                file.kind == Kind::Secret
                    ? tr("correct the path, or create it with a random secret: "
                         "openssl rand -hex 32 > %1 && chmod 600 %1")
                          .arg(shellQuoted(file.path))
                    : tr("correct the path of %1, or put the file there").arg(file.name));
            return;
        }
        const QString why = QString::fromLocal8Bit(std::strerror(error));
        if (error == EACCES) {
            add(tr("%1 %2 cannot be read: %3").arg(file.name, shown(file.path), why),
                tr("give it to the user the engine runs as: chown USER %1 && chmod 600 %1")
                    .arg(shellQuoted(file.path)));
            return;
        }
        add(tr("%1 %2 cannot be opened: %3").arg(file.name, shown(file.path), why),
            tr("correct the path of %1").arg(file.name));
    }

    void checkContent(const FileToCheck &file, int fd)
    {
        QByteArray content(MaxSecretRead, '\0');
        qsizetype got = 0;
        while (got < content.size()) {
            const ssize_t n =
                ::read(fd, content.data() + got, static_cast<size_t>(content.size() - got));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                const QString why = QString::fromLocal8Bit(std::strerror(errno));
                wipe(content);
                add(tr("%1 %2 cannot be read: %3").arg(file.name, shown(file.path), why),
                    tr("check the file and the disk it is on"));
                return;
            }
            if (n == 0)
                break;
            got += n;
        }
        // Shrink without reallocating, so no unwiped copy is left behind.
        std::memset(content.data() + got, 0, static_cast<size_t>(content.size() - got));
        content.truncate(got);
        if (content.endsWith("\r\n"))
            content.chop(2);
        else if (content.endsWith('\n'))
            content.chop(1);

        const QString fix =
            file.weakContentFix.isEmpty() ? generateFix(file.path) : file.weakContentFix;
        const QString name = file.name;
        const QString path = shown(file.path);
        const int distinct = distinctBytes(content);
        QString weakness;
        if (content.isEmpty())
            weakness = tr("%1 %2 is empty").arg(name, path);
        else if (looksLikePlaceholder(content))
            weakness = tr("%1 %2 looks like a placeholder or default value, not a random secret")
                           .arg(name, path);
        else if (distinct == 1)
            weakness = tr("%1 %2 is one character repeated, not a random secret").arg(name, path);
        else if (distinct < MinDistinctCharacters)
            weakness = tr("%1 %2 uses only %3 different characters, not a random secret")
                           .arg(name, path, QString::number(distinct));
        else if (content.size() < MinSecretLength)
            weakness = tr("%1 %2 is only %3 bytes long; a secret needs at least %4")
                           .arg(name, path, QString::number(content.size()),
                                QString::number(MinSecretLength));
        if (!weakness.isEmpty()) {
            wipe(content);
            add(weakness, fix);
            return;
        }
        for (const ReadSecret &other : std::as_const(secrets)) {
            if (other.content == content) {
                add(tr("%1 %2 holds the same secret as %3 %4; one leaked secret would then "
                       "open both")
                        .arg(name, path, other.name, shown(other.path)),
                    fix);
                break;
            }
        }
        secrets.append({file.name, file.path, std::move(content)});
    }
};
} // namespace

QList<ConfigGuard::Problem> ConfigGuard::check(const EngineSettings &settings,
                                               const QList<SecretFile> &extraSecretFiles)
{
    Checker checker;
    if (settings.apiEnabled) {
        const bool hasCertificate = !settings.tlsCertificate.isEmpty();
        const bool hasKey = !settings.tlsPrivateKey.isEmpty();
        if (hasCertificate && !hasKey)
            checker.add(tr("[api] tls_certificate is set but tls_private_key is not"),
                        tr("set [api] tls_private_key to the certificate's private key file, "
                           "or remove tls_certificate"));
        if (hasKey && !hasCertificate)
            checker.add(tr("[api] tls_private_key is set but tls_certificate is not"),
                        tr("set [api] tls_certificate to the certificate file, or remove "
                           "tls_private_key"));
        if (hasCertificate)
            checker.checkFile({QStringLiteral("[api] tls_certificate"),
                               settings.tlsCertificate,
                               Kind::TlsCertificate,
                               false,
                               {}});
        if (hasKey)
            checker.checkFile({QStringLiteral("[api] tls_private_key"),
                               settings.tlsPrivateKey,
                               Kind::TlsPrivateKey,
                               false,
                               {}});
        if (!settings.tlsClientCa.isEmpty())
            checker.checkFile({QStringLiteral("[api] tls_client_ca"),
                               settings.tlsClientCa,
                               Kind::TlsCertificate,
                               false,
                               {}});
    }
    for (const SecretFile &extra : extraSecretFiles)
        checker.checkFile(
            {extra.role, extra.path, Kind::Secret, extra.mayBeMissing, extra.weakContentFix});
    return checker.problems;
}

QString ConfigGuard::describe(const QList<Problem> &problems)
{
    QStringList lines;
    for (const Problem &problem : problems)
        lines << tr("%1 \u2014 fix: %2").arg(problem.problem, problem.fix);
    return lines.join(u'\n');
}
