#pragma once

#include <QList>
#include <QString>

struct EngineSettings;

// The engine's refusal to start in a configuration that would expose it:
// secrets that other users can read or that are still the placeholder from
// a how-to, half a TLS setup. (The API has no clear-text listener and no way
// to turn authentication off, so neither needs a rule.) Each problem comes with the command or
// setting that fixes it, because whoever reads it is starting a service and
// wants to get on. No message ever holds a byte of a secret file.
class ConfigGuard {
public:
    struct Problem {
        QString problem;
        QString fix;
    };

    // A secret file the settings do not name: the store key file and the
    // engine's other secrets (API-key pepper, audit key), which live beside
    // it by StoreKeySource's convention rather than in the INI file.
    struct SecretFile {
        QString role; // how messages name it: "store key file", "API-key pepper"
        QString path;
        // A file the engine creates on first start is no problem if absent.
        bool mayBeMissing = false;
        // How to replace weak content. Empty: generate a random secret with
        // openssl. A store key cannot simply be replaced: the store has to
        // be rekeyed, so its caller says so here.
        QString weakContentFix;
    };

    // Empty when the engine may start. The [api] checks apply only while the
    // API is enabled; the TLS private key is checked for its mode but not for
    // its content (a PEM file is neither short nor free of "xxxx"). Each of
    // extraSecretFiles is checked for its mode and its content, and no two of
    // them may hold the same secret.
    static QList<Problem> check(const EngineSettings &settings,
                                const QList<SecretFile> &extraSecretFiles = {});

    // One line per problem: "<problem> — fix: <fix>".
    static QString describe(const QList<Problem> &problems);
};
