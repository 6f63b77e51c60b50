#include "httprequest.h"

QByteArray HttpRequest::header(QByteArrayView name) const
{
    for (const auto &field : headers) {
        if (field.first == name)
            return field.second;
    }
    return {};
}

int HttpRequest::headerCount(QByteArrayView name) const
{
    int count = 0;
    for (const auto &field : headers) {
        if (field.first == name)
            ++count;
    }
    return count;
}
