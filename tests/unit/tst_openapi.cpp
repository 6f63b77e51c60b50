#include "api/apiroute.h"
#include "security/scopes.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QTest>

// The OpenAPI document in resources/ against the routes the server really has.
class TestOpenApi : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void everyRouteIsDocumented();
    void everyDocumentedOperationIsARoute();
    void referencesResolve();
    void errorsAreProblems();

private:
    QJsonObject m_doc;
};

void TestOpenApi::initTestCase()
{
    QFile file(QStringLiteral(":/framehouse/api/openapi.json"));
    QVERIFY(file.open(QIODevice::ReadOnly));
    QJsonParseError error{};
    const QJsonDocument doc = QJsonDocument::fromJson(file.readAll(), &error);
    QCOMPARE(error.error, QJsonParseError::NoError);
    m_doc = doc.object();
    QCOMPARE(m_doc.value(u"openapi").toString(), QStringLiteral("3.1.0"));
}

void TestOpenApi::everyRouteIsDocumented()
{
    const QJsonObject paths = m_doc.value(u"paths").toObject();
    for (const ApiRoute &route : ApiRoutes::all()) {
        const QString where = QString::fromLatin1(route.method) + u' ' + route.pattern;
        QVERIFY2(paths.contains(route.pattern), qPrintable(where));
        const QJsonObject operation = paths.value(route.pattern)
                                          .toObject()
                                          .value(QString::fromLatin1(route.method.toLower()))
                                          .toObject();
        QVERIFY2(!operation.isEmpty(), qPrintable(where));
        QVERIFY2(operation.contains(u"operationId"), qPrintable(where));
        // Open routes say so with an empty security list; the others inherit the keys.
        const bool open =
            operation.contains(u"security") && operation.value(u"security").toArray().isEmpty();
        QCOMPARE(open, !route.authenticated);
        const QString scope = operation.value(u"x-framehouse-scope").toString();
        QCOMPARE(scope, route.scope ? ScopeNames::names(*route.scope).join(u',') : QString());
        // Path parameters documented exactly as the pattern names them.
        static const QRegularExpression param(QStringLiteral("\\{(\\w+)\\}"));
        QStringList inPattern;
        for (const QRegularExpressionMatch &m : param.globalMatch(route.pattern))
            inPattern << m.captured(1);
        QStringList documented;
        for (const QJsonValue &p : operation.value(u"parameters").toArray()) {
            if (p.toObject().value(u"in").toString() == QLatin1StringView("path"))
                documented << p.toObject().value(u"name").toString();
        }
        QCOMPARE(documented, inPattern);
        // Every authenticated operation documents 401 and 429.
        const QJsonObject responses = operation.value(u"responses").toObject();
        if (route.authenticated) {
            QVERIFY2(responses.contains(u"401"), qPrintable(where));
            QVERIFY2(responses.contains(u"429"), qPrintable(where));
        }
    }
}

void TestOpenApi::everyDocumentedOperationIsARoute()
{
    const QJsonObject paths = m_doc.value(u"paths").toObject();
    int operations = 0;
    for (auto path = paths.begin(); path != paths.end(); ++path) {
        const QJsonObject methods = path.value().toObject();
        for (auto method = methods.begin(); method != methods.end(); ++method) {
            ++operations;
            bool found = false;
            for (const ApiRoute &route : ApiRoutes::all())
                found = found || (route.pattern == path.key() &&
                                  QString::fromLatin1(route.method.toLower()) == method.key());
            QVERIFY2(found, qPrintable(method.key() + u' ' + path.key()));
        }
    }
    QCOMPARE(operations, ApiRoutes::all().size());
}

namespace {
void collectRefs(const QJsonValue &value, QStringList &refs)
{
    if (value.isObject()) {
        const QJsonObject o = value.toObject();
        for (auto it = o.begin(); it != o.end(); ++it) {
            if (it.key() == QLatin1StringView("$ref"))
                refs << it.value().toString();
            else
                collectRefs(it.value(), refs);
        }
    } else if (value.isArray()) {
        for (const QJsonValue &v : value.toArray())
            collectRefs(v, refs);
    }
}
} // namespace

void TestOpenApi::referencesResolve()
{
    QStringList refs;
    collectRefs(m_doc, refs);
    QVERIFY(refs.size() > 20);
    for (const QString &ref : std::as_const(refs)) {
        QVERIFY2(ref.startsWith(u"#/"), qPrintable(ref));
        QJsonValue at = m_doc;
        for (const QString &part : ref.mid(2).split(u'/'))
            at = at.toObject().value(part);
        QVERIFY2(at.isObject(), qPrintable(ref));
    }
}

void TestOpenApi::errorsAreProblems()
{
    const QJsonObject responses =
        m_doc.value(u"components").toObject().value(u"responses").toObject();
    QVERIFY(!responses.isEmpty());
    for (auto it = responses.begin(); it != responses.end(); ++it) {
        const QJsonObject content = it.value().toObject().value(u"content").toObject();
        QVERIFY2(content.contains(u"application/problem+json"), qPrintable(it.key()));
    }
    QVERIFY(
        responses.value(u"E429").toObject().value(u"headers").toObject().contains(u"Retry-After"));
}

QTEST_GUILESS_MAIN(TestOpenApi)
#include "tst_openapi.moc"
