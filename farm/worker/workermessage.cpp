#include "workermessage.h"

#include <QCoreApplication>
#include <QJsonDocument>
#include <QJsonParseError>

#include <cmath>
#include <initializer_list>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("WorkerMessage", text); }

const QLatin1StringView VersionKey("v");
const QLatin1StringView TypeKey("type");

enum class Kind { Integer, Number, String, Bool, Array };

struct Field {
    const char *name;
    Kind kind;
};

QString kindName(Kind kind)
{
    switch (kind) {
    case Kind::Integer:
        return tr("an integer");
    case Kind::Number:
        return tr("a number");
    case Kind::String:
        return tr("a string");
    case Kind::Bool:
        return tr("true or false");
    case Kind::Array:
        return tr("an array");
    }
    return {};
}

bool hasKind(const QJsonValue &value, Kind kind)
{
    switch (kind) {
    case Kind::Integer: {
        if (!value.isDouble())
            return false;
        const double d = value.toDouble();
        return std::isfinite(d) && d == std::floor(d) && std::fabs(d) <= 9007199254740992.0;
    }
    case Kind::Number:
        return value.isDouble() && std::isfinite(value.toDouble());
    case Kind::String:
        return value.isString();
    case Kind::Bool:
        return value.isBool();
    case Kind::Array:
        return value.isArray();
    }
    return false;
}

// Every field present with its kind, and nothing else besides `extra`.
QString checkFields(const QJsonObject &object, const QString &where,
                    std::initializer_list<Field> fields,
                    std::initializer_list<QLatin1StringView> extra = {})
{
    for (const Field &field : fields) {
        const QString name = QString::fromLatin1(field.name);
        const auto it = object.constFind(name);
        if (it == object.constEnd())
            return tr("%1: the field \"%2\" is missing").arg(where, name);
        if (!hasKind(it.value(), field.kind))
            return tr("%1: \"%2\" must be %3").arg(where, name, kindName(field.kind));
    }
    for (auto it = object.constBegin(); it != object.constEnd(); ++it) {
        bool known = false;
        for (const Field &field : fields)
            known = known || it.key() == QLatin1StringView(field.name);
        for (QLatin1StringView name : extra)
            known = known || it.key() == name;
        if (!known)
            return tr("%1: unknown field \"%2\"").arg(where, it.key());
    }
    return {};
}

QString checkFallbacks(const QJsonArray &fallbacks)
{
    for (qsizetype i = 0; i < fallbacks.size(); ++i) {
        const QString where = QStringLiteral("started.fallbacks[%1]").arg(i);
        if (!fallbacks.at(i).isObject())
            return tr("%1: must be an object").arg(where);
        const QString error = checkFields(fallbacks.at(i).toObject(), where,
                                          {{"encoder", Kind::String}, {"reason", Kind::String}});
        if (!error.isEmpty())
            return error;
    }
    return {};
}

QString checkStreams(const QJsonArray &streams)
{
    for (qsizetype i = 0; i < streams.size(); ++i) {
        const QString where = QStringLiteral("finished.streams[%1]").arg(i);
        if (!streams.at(i).isObject())
            return tr("%1: must be an object").arg(where);
        const QJsonObject stream = streams.at(i).toObject();
        const QString type = stream.value(TypeKey).toString();
        QString error;
        if (type == QLatin1StringView("video"))
            error = checkFields(stream, where,
                                {{"type", Kind::String},
                                 {"codec", Kind::String},
                                 {"width", Kind::Integer},
                                 {"height", Kind::Integer}});
        else if (type == QLatin1StringView("audio"))
            error = checkFields(stream, where,
                                {{"type", Kind::String},
                                 {"codec", Kind::String},
                                 {"channels", Kind::Integer},
                                 {"sample_rate", Kind::Integer}});
        else
            error = tr("%1: \"type\" must be \"video\" or \"audio\"").arg(where);
        if (!error.isEmpty())
            return error;
    }
    return {};
}

QString checkBody(WorkerMessage::Type type, const QJsonObject &body)
{
    const std::initializer_list<QLatin1StringView> header{VersionKey, TypeKey};
    switch (type) {
    case WorkerMessage::Type::Started: {
        const QString error = checkFields(body, QStringLiteral("started"),
                                          {{"encoder", Kind::String},
                                           {"hardware", Kind::Bool},
                                           {"fallbacks", Kind::Array},
                                           {"expected_duration_us", Kind::Integer},
                                           {"width", Kind::Integer},
                                           {"height", Kind::Integer}},
                                          header);
        return error.isEmpty()
                   ? checkFallbacks(body.value(QLatin1StringView("fallbacks")).toArray())
                   : error;
    }
    case WorkerMessage::Type::Progress:
        return checkFields(body, QStringLiteral("progress"),
                           {{"frame", Kind::Integer},
                            {"fps", Kind::Number},
                            {"speed", Kind::Number},
                            {"out_time_us", Kind::Integer}},
                           header);
    case WorkerMessage::Type::Finished: {
        const QString error = checkFields(body, QStringLiteral("finished"),
                                          {{"duration_us", Kind::Integer},
                                           {"size", Kind::Integer},
                                           {"frames", Kind::Integer},
                                           {"streams", Kind::Array}},
                                          header);
        return error.isEmpty() ? checkStreams(body.value(QLatin1StringView("streams")).toArray())
                               : error;
    }
    case WorkerMessage::Type::Error: {
        const QString error =
            checkFields(body, QStringLiteral("error"),
                        {{"code", Kind::String}, {"message", Kind::String}}, header);
        if (!error.isEmpty())
            return error;
        if (body.value(QLatin1StringView("code")).toString().isEmpty())
            return tr("error: \"code\" is empty");
        return {};
    }
    }
    return {};
}
} // namespace

QString WorkerMessage::typeName(Type type)
{
    switch (type) {
    case Type::Started:
        return QStringLiteral("started");
    case Type::Progress:
        return QStringLiteral("progress");
    case Type::Finished:
        return QStringLiteral("finished");
    case Type::Error:
        return QStringLiteral("error");
    }
    return {};
}

QByteArray WorkerMessage::line(Type type, QJsonObject fields)
{
    fields.insert(VersionKey, 1);
    fields.insert(TypeKey, typeName(type));
    QByteArray out = QJsonDocument(fields).toJson(QJsonDocument::Compact);
    out.append('\n');
    return out;
}

QByteArray WorkerMessage::errorLine(QLatin1StringView code, const QString &message)
{
    return line(Type::Error,
                {{QStringLiteral("code"), QString(code)}, {QStringLiteral("message"), message}});
}

Expected<WorkerMessage> WorkerMessage::parse(const QByteArray &line)
{
    QByteArray text = line;
    if (text.endsWith('\n'))
        text.chop(1);
    if (text.endsWith('\r'))
        text.chop(1);
    if (text.contains('\n'))
        return fail(tr("more than one line"));
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(text, &parseError);
    if (parseError.error != QJsonParseError::NoError)
        return fail(
            tr("not JSON: %1 at offset %2").arg(parseError.errorString()).arg(parseError.offset));
    if (!document.isObject())
        return fail(tr("not a JSON object"));
    const QJsonObject body = document.object();
    const QJsonValue version = body.value(VersionKey);
    if (version.isUndefined())
        return fail(tr("the field \"v\" is missing"));
    if (!version.isDouble() || version.toDouble() != 1)
        return fail(tr("unsupported protocol version: \"v\" must be 1"));
    const QJsonValue typeValue = body.value(TypeKey);
    if (!typeValue.isString())
        return fail(tr("the field \"type\" is missing or not a string"));
    const QString typeText = typeValue.toString();
    std::optional<Type> type;
    for (Type candidate : {Type::Started, Type::Progress, Type::Finished, Type::Error})
        if (typeName(candidate) == typeText)
            type = candidate;
    if (!type)
        return fail(tr("unknown message type \"%1\"").arg(typeText.left(40)));
    const QString error = checkBody(*type, body);
    if (!error.isEmpty())
        return fail(error);
    WorkerMessage message;
    message.type = *type;
    message.body = body;
    return message;
}
