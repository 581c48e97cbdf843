package io.github.panamanccl.testing;

import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.InvocationInterceptor;
import org.junit.jupiter.api.extension.ReflectiveInvocationContext;
import org.junit.jupiter.params.provider.AnnotationBasedArgumentsProvider;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.ArgumentsSource;
import org.junit.jupiter.params.support.ParameterDeclarations;
import org.opentest4j.AssertionFailedError;
import org.opentest4j.TestAbortedException;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import java.lang.reflect.Method;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * The cases of a property: {@link #value()} fresh {@link Seed}s on every run, one per invocation of a
 * {@code @ParameterizedTest} whose one parameter is the {@link Seed} it draws its inputs from. A failing case
 * names its seed and the command that replays it exactly; {@code -Dproperty.seed=<seed>} runs that one case
 * instead of the generated ones.
 */
@Documented
@Target(ElementType.METHOD)
@Retention(RetentionPolicy.RUNTIME)
@ArgumentsSource(SeededCases.Provider.class)
@ExtendWith(SeededCases.ReplayHint.class)
public @interface SeededCases {
    /** The system property that replays one case. */
    String SEED_PROPERTY = "property.seed";

    /** How many cases a run generates. */
    int value();

    /** The generated seeds, or the one named by {@link #SEED_PROPERTY}. */
    final class Provider extends AnnotationBasedArgumentsProvider<SeededCases> {
        @Override
        protected Stream<? extends Arguments> provideArguments(ParameterDeclarations parameters,
                                                               ExtensionContext context, SeededCases cases) {
            String replay = System.getProperty(SEED_PROPERTY);
            if (replay != null) {
                return Stream.of(Arguments.of(Seed.parse(replay)));
            }
            SplittableRandom seeds = new SplittableRandom();
            return Stream.generate(() -> Arguments.of(new Seed(seeds.nextLong()))).limit(cases.value());
        }
    }

    /** Puts the failing case's seed and the replay command in front of the failure. */
    final class ReplayHint implements InvocationInterceptor {
        @Override
        public void interceptTestTemplateMethod(Invocation<Void> invocation, ReflectiveInvocationContext<Method> call,
                                                ExtensionContext context) throws Throwable {
            try {
                invocation.proceed();
            } catch (TestAbortedException skipped) {
                throw skipped;
            } catch (Throwable failure) {
                Seed seed = (Seed) call.getArguments().getFirst();
                AssertionFailedError hint = new AssertionFailedError("case with seed " + seed + " failed; replay it "
                        + "with: mvn -B verify -Dtest=" + context.getRequiredTestClass().getSimpleName() + "#"
                        + call.getExecutable().getName() + " -Dsurefire.failIfNoSpecifiedTests=false -D"
                        + SEED_PROPERTY + "=" + seed + "\n  " + failure, failure);
                hint.setStackTrace(new StackTraceElement[0]); // the cause's trace is the one that matters
                throw hint;
            }
        }
    }
}
