#pragma once

#include <QJsonObject>
#include <QString>

#include <optional>

class QSqlQuery;

// One row of jobs. The spec is the validated job spec as JSON.
struct Job {
    enum class State { Queued, Running, Succeeded, Failed, Cancelled };

    qint64 id = 0;
    QString uuid;
    QString name;
    QString preset;
    QJsonObject spec;
    State state = State::Queued;
    int priority = 0;
    QString submittedBy;
    qint64 submittedAt = 0;
    std::optional<qint64> startedAt;
    std::optional<qint64> finishedAt;
    int attempts = 0;
    QString leaseOwner;
    std::optional<qint64> leaseExpiresAt;
    double progress = 0;
    QString encoder;
    QString outputPath;
    QString error;
    std::optional<qint64> notBefore; // a retried job waits for its backoff
    double fps = 0;                  // latest progress report of a running job
    double speed = 0;
    std::optional<qint64> workerPid;
    std::optional<qint64> outputRemovedAt;

    bool isFinal() const
    {
        return state == State::Succeeded || state == State::Failed || state == State::Cancelled;
    }
    static QString stateName(State state);
    static std::optional<State> stateFromName(QStringView name);

    static QString selectColumns();
    static Job fromQuery(const QSqlQuery &query);
    QJsonObject toJson() const;
};
