#pragma once

#include <QString>

#include <optional>
#include <utility>
#include <variant>

// A value or an error message a person can act on. Errors users can cause
// come back as values, never as exceptions across Qt event boundaries.
struct Failure {
    QString message;
    int code = 0; // optional machine-readable cause, e.g. Store::WrongKey
};

template <typename T> class [[nodiscard]] Expected {
public:
    Expected(T value)
        : m_state(std::in_place_index<0>, std::move(value))
    {}
    Expected(Failure failure)
        : m_state(std::in_place_index<1>, std::move(failure))
    {}

    bool ok() const { return m_state.index() == 0; }
    explicit operator bool() const { return ok(); }

    T &value() & { return std::get<0>(m_state); }
    const T &value() const & { return std::get<0>(m_state); }
    T &&value() && { return std::get<0>(std::move(m_state)); }
    T *operator->() { return &value(); }
    const T *operator->() const { return &value(); }

    const QString &error() const { return std::get<1>(m_state).message; }
    int code() const { return std::get<1>(m_state).code; }
    Failure failure() const { return std::get<1>(m_state); }

private:
    std::variant<T, Failure> m_state;
};

template <> class [[nodiscard]] Expected<void> {
public:
    Expected() = default;
    Expected(Failure failure)
        : m_failure(std::move(failure))
    {}

    bool ok() const { return !m_failure.has_value(); }
    explicit operator bool() const { return ok(); }
    const QString &error() const { return m_failure->message; }
    int code() const { return m_failure->code; }
    Failure failure() const { return *m_failure; }

private:
    std::optional<Failure> m_failure;
};

inline Failure fail(QString message, int code = 0) { return Failure{std::move(message), code}; }
